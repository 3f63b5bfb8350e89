"""Stages 2-7 on plain rows: one dict per source file carrying its segments through the stages.

A stage is a callable ``rows -> rows`` on a list of file rows, so the same code runs in a plain
loop and inside Ray Data ``map_batches``. Pure stages (`decode_rows`, `filter_rows`) are
functions; model stages (`Segmenter`, `Transcriber`, `Tokenize`, `EmbedSpeakers`) are classes
built once per process (a Ray actor) and called on batches.

A file row (see `initial_row`):

``source`` (the `Source` as a dict), ``duration`` (source seconds), ``sample_rate``, ``wave``
(float32 ``[N]``, until segmentation), ``gain`` (loudness gain applied, 1.0 if none),
``segments`` (list of segment dicts), ``dropped`` and ``errors`` (records).

A segment dict: ``index``, ``start``, ``end``, ``duration``, ``wave``, ``speech`` (speech
regions relative to the segment), ``text``, ``text_source``, ``asr_text``, ``asr_cer``,
``language``, quality figures, ``speaker_embedding``, ``tokens`` (column -> (codes, rate)).

Accounting: every second of a decoded file ends up either in a kept segment or in a drop
record (``non_speech`` for what lies outside the segments), and a failed file is one error
record carrying the file's probed duration; so seconds in = kept + dropped + failed.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from audiotok.audio import audio_info, load_audio, loudness_normalize
from audiotok.errors import AudioLoadError
from data_prep.config import (
    ASRConfig,
    DecodeConfig,
    FilterConfig,
    SegmentConfig,
    SpeakerConfig,
    TokenizeConfig,
)
from data_prep.discover import Source

Row = dict[str, Any]
Rows = list[Row]

# Stage names, in order, as they appear in drop and error records and in the manifest.
STAGES = ("discover", "decode", "segment", "filter", "asr", "tokenize", "speaker", "write")


def initial_row(source: Source) -> Row:
    return {
        "source": source.to_dict(),
        "duration": 0.0,
        "sample_rate": 0,
        "wave": None,
        "gain": 1.0,
        "segments": [],
        "dropped": [],
        "errors": []
        if source.error is None
        else [_error_record(source.to_dict(), "discover", *source.error, seconds=0.0)],
    }


def segment_id(source_id: str, index: int) -> str:
    return f"{source_id}-{index:05d}"


def token_column(spec: str) -> str:
    """``opus@12kbps`` -> ``tokens_opus_12kbps``."""
    return "tokens_" + re.sub(r"[^0-9a-zA-Z]+", "_", spec).strip("_").lower()


def _error_record(
    source: dict[str, Any], stage: str, reason: str, detail: str, *, seconds: float
) -> dict[str, Any]:
    return {
        "path": source["path"],
        "source_id": source["source_id"],
        "stage": stage,
        "reason": reason,
        "detail": detail,
        "seconds": seconds,
    }


def fail(row: Row, stage: str, reason: str, detail: str) -> None:
    """Turn ``row`` into a failed file: one error record holding all its seconds."""
    row["segments"], row["dropped"], row["wave"] = [], [], None
    row["errors"] = [_error_record(row["source"], stage, reason, detail, seconds=row["duration"])]


def drop(
    row: Row,
    segment: dict[str, Any] | None,
    stage: str,
    reason: str,
    figure: float | None,
    *,
    threshold: float | None = None,
    seconds: float | None = None,
    detail: str | None = None,
) -> None:
    """Record a dropped segment (or, with ``segment=None``, a part or all of the file)."""
    source = row["source"]
    record = {
        "segment": None if segment is None else segment_id(source["source_id"], segment["index"]),
        "source_id": source["source_id"],
        "path": source["path"],
        "stage": stage,
        "reason": reason,
        "figure": None if figure is None else float(figure),
        "threshold": threshold,
        "seconds": float(segment["duration"] if seconds is None and segment else seconds or 0.0),
    }
    if detail:
        record["detail"] = detail
    row["dropped"].append(record)


def alive(row: Row) -> bool:
    return not row["errors"]


def isolate(rows: Rows, stage: str, fn: Callable[[Rows], None]) -> Rows:
    """Run ``fn`` (which updates rows in place) on the live rows; if it raises, run it row by
    row and turn each row that still fails into an error record of ``stage``."""
    live = [row for row in rows if alive(row) and row["segments"]]
    if not live:
        return rows
    saved = [(list(r["dropped"]), [dict(s) for s in r["segments"]]) for r in live]
    try:
        fn(live)
        return rows
    except Exception:
        if len(live) == 1:
            _fail_exc(live[0], stage)
            return rows
    for row, (dropped, segments) in zip(live, saved, strict=True):
        row["dropped"], row["segments"] = dropped, segments  # undo the failed batch's changes
        try:
            fn([row])
        except Exception:
            _fail_exc(row, stage)
    return rows


def _fail_exc(row: Row, stage: str) -> None:
    import sys

    exc = sys.exc_info()[1]
    fail(row, stage, f"{stage}_failed", f"{type(exc).__name__}: {exc}")


# --- stage 2: decode -------------------------------------------------------------------------


def decode_rows(rows: Rows, config: DecodeConfig) -> Rows:
    """Probe each file (duration, without decoding), then decode it to mono float32 at
    ``config.sample_rate`` in ``chunk_seconds`` chunks; optional loudness normalisation."""
    for row in rows:
        if alive(row):
            _decode(row, config)
    return rows


def _decode(row: Row, config: DecodeConfig) -> None:
    path = row["source"]["path"]
    try:
        info = audio_info(path)
        row["duration"] = float(info.duration or 0.0)
        if info.duration is not None and info.duration > config.max_file_seconds:
            fail(row, "decode", "too_long", f"{info.duration:.0f} s > {config.max_file_seconds} s")
            return
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            audio = load_audio(
                path, sample_rate=config.sample_rate, mono=True, chunk_seconds=config.chunk_seconds
            )
    except AudioLoadError as exc:
        fail(row, "decode", exc.reason, exc.detail)
        return
    except Exception as exc:  # a decoder crash on one file must not stop the run
        fail(row, "decode", "decode_failed", f"{type(exc).__name__}: {exc}")
        return
    wave = audio.mono
    row["duration"] = audio.duration  # what was decoded is what the accounting uses
    if audio.num_frames == 0:
        fail(row, "decode", "empty_audio", "no samples decoded")
        return
    row["truncated"] = any("ends early" in str(w.message) for w in caught)
    if config.loudness_lufs is not None:
        peak = float(np.max(np.abs(wave)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            wave = loudness_normalize(wave, audio.sample_rate, config.loudness_lufs)
        row["gain"] = float(np.max(np.abs(wave))) / peak if peak > 0 else 1.0
    row["wave"] = np.ascontiguousarray(wave, dtype=np.float32)
    row["sample_rate"] = audio.sample_rate


# --- stage 3: segment ------------------------------------------------------------------------


def plan_segments(
    speech: list[tuple[float, float]], duration: float, config: SegmentConfig
) -> list[tuple[float, float]]:
    """Segments ``(start, end)`` from speech regions: pad, merge across gaps of at most
    ``max_gap_seconds`` while the span stays within ``max_seconds``, and cut regions longer
    than ``max_seconds`` into equal pieces. Segments shorter than ``min_seconds`` are kept
    here; the filter drops them, so that the drop is recorded."""
    padded: list[list[float]] = []
    for start, end in sorted(speech):
        s, e = max(0.0, start - config.pad_seconds), min(duration, end + config.pad_seconds)
        if e <= s:
            continue
        if padded and s <= padded[-1][1]:
            padded[-1][1] = max(padded[-1][1], e)
        else:
            padded.append([s, e])
    out: list[tuple[float, float]] = []
    for start, end in padded:
        pieces = max(1, math.ceil((end - start) / config.max_seconds - 1e-9))
        step = (end - start) / pieces
        for k in range(pieces):
            ps, pe = start + k * step, (end if k == pieces - 1 else start + (k + 1) * step)
            if (
                out
                and ps - out[-1][1] <= config.max_gap_seconds
                and pe - out[-1][0] <= (config.max_seconds)
            ):
                out[-1] = (out[-1][0], pe)
            else:
                out.append((ps, pe))
    return [(round(s, 4), round(e, 4)) for s, e in out]


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def assign_text(
    source: dict[str, Any], spans: list[tuple[float, float]], duration: float, max_seconds: float
) -> list[str | None]:
    """The given transcript of each segment, or None where ASR must supply it.

    Timed transcripts: a segment gets the ones it overlaps, if each lies at least 90 % inside
    it (one cut by a segment boundary makes the segment's text unreliable: None). One untimed
    transcript: kept only when the file is at most ``max_seconds`` long and yields exactly one
    segment (it then covers all the speech); otherwise dropped and left to ASR.
    """
    timed = source.get("timed") or []
    if timed:
        texts: list[str | None] = []
        for s, e in spans:
            parts, ok = [], True
            for ts, te, text in timed:
                inside = _overlap(s, e, ts, te)
                if inside <= 0:
                    continue
                if inside < 0.9 * max(te - ts, 1e-9):
                    ok = False
                parts.append(text)
            texts.append(" ".join(parts) if ok and parts else None)
        return texts
    text = source.get("text")
    if text and len(spans) == 1 and duration <= max_seconds:
        return [text]
    return [None] * len(spans)


class Segmenter:
    """Stage 3: VAD, then `plan_segments`; slices the segments' audio and frees the file's."""

    stage = "segment"

    def __init__(self, config: SegmentConfig) -> None:
        self.config = config
        self.vad: Any = None
        if config.enabled:
            from audiotok.vad import get_vad

            self.vad = get_vad(config.vad, **config.vad_options)

    def __call__(self, rows: Rows) -> Rows:
        for row in rows:
            if alive(row):
                try:
                    self._segment(row)
                except Exception:
                    _fail_exc(row, self.stage)
        return rows

    def _segment(self, row: Row) -> None:
        wave, rate, duration = row["wave"], row["sample_rate"], row["duration"]
        if self.vad is None:  # no VAD: the whole file, cut into pieces of at most max_seconds
            speech = [(0.0, duration)]
            spans = plan_segments(speech, duration, self.config)
        else:
            speech = [(s.start, s.end) for s in self.vad.speech_segments(wave, rate)]
            spans = plan_segments(speech, duration, self.config)
        row["wave"] = None
        if not spans:
            drop(row, None, self.stage, "no_speech", 0.0, seconds=duration)
            return
        texts = assign_text(row["source"], spans, duration, self.config.max_seconds)
        given_language = row["source"].get("language")
        for index, ((start, end), text) in enumerate(zip(spans, texts, strict=True)):
            a, b = round(start * rate), min(round(end * rate), len(wave))
            regions = [
                (max(s, start) - start, min(e, end) - start)
                for s, e in speech
                if _overlap(s, e, start, end) > 0
            ]
            row["segments"].append(
                {
                    "index": index,
                    "start": start,
                    "end": end,
                    "duration": (b - a) / rate,
                    "wave": wave[a:b].copy(),
                    "speech": regions if self.vad is not None else None,
                    "text": text,
                    "text_source": "given" if text is not None else None,
                    "asr_text": None,
                    "asr_cer": None,
                    "language": given_language,
                    "speech_ratio": None,
                    "clipping_ratio": None,
                    "snr_db": None,
                    "dnsmos_ovrl": None,
                    "speaker_embedding": None,
                    "tokens": {},
                }
            )
        outside = duration - sum(seg["duration"] for seg in row["segments"])
        if outside > 1e-6:
            drop(row, None, self.stage, "non_speech", outside, seconds=outside)


# --- stage 4: filter -------------------------------------------------------------------------


class QualityFilter:
    """Stage 4: figures per segment, then bounds; the first failed bound drops the segment."""

    stage = "filter"

    def __init__(self, filter_config: FilterConfig, segment_config: SegmentConfig) -> None:
        self.config = filter_config
        self.min_seconds = segment_config.min_seconds
        self.max_seconds = segment_config.max_seconds if segment_config.enabled else math.inf

    def __call__(self, rows: Rows) -> Rows:
        for row in rows:
            if alive(row) and row["segments"]:
                try:
                    self._filter(row)
                except Exception:
                    _fail_exc(row, self.stage)
        return rows

    def _filter(self, row: Row) -> None:
        from audiotok import quality
        from audiotok.vad import SpeechSegment

        cfg, rate = self.config, row["sample_rate"]
        kept = []
        for seg in row["segments"]:
            duration = seg["duration"]
            checks: list[tuple[str, float | None, float | None, bool]] = [
                ("too_short", duration, self.min_seconds, duration < self.min_seconds),
                ("too_long", duration, self.max_seconds, duration > self.max_seconds + 1e-3),
            ]
            if cfg.enabled:
                wave = seg["wave"]
                regions = [SpeechSegment(s, e) for s, e in seg["speech"] or [(0.0, duration)]]
                raw = wave / row["gain"] if row["gain"] != 1.0 else wave
                seg["clipping_ratio"] = float(quality.clipping_ratio(raw))
                if seg["speech"] is not None:
                    seg["speech_ratio"] = float(quality.speech_ratio(regions, duration))
                    seg["snr_db"] = float(quality.estimate_snr_db(wave, rate, regions))
                if cfg.dnsmos:
                    seg["dnsmos_ovrl"] = float(quality.dnsmos(wave, rate).ovrl)
                checks += [
                    _low("low_speech_ratio", seg["speech_ratio"], cfg.min_speech_ratio),
                    _high("clipping", seg["clipping_ratio"], cfg.max_clipping_ratio),
                    _low("low_snr", seg["snr_db"], cfg.min_snr_db),
                    _low(
                        "low_dnsmos",
                        seg["dnsmos_ovrl"],
                        cfg.min_dnsmos_ovrl if cfg.dnsmos else None,
                    ),
                ]
            failed = next((c for c in checks if c[3]), None)
            if failed is None:
                kept.append(seg)
            else:
                drop(row, seg, self.stage, failed[0], failed[1], threshold=failed[2])
        row["segments"] = kept


def _low(
    reason: str, figure: float | None, bound: float | None
) -> tuple[str, float | None, float | None, bool]:
    bad = figure is not None and bound is not None and not figure >= bound
    return reason, figure, bound, bad


def _high(
    reason: str, figure: float | None, bound: float | None
) -> tuple[str, float | None, float | None, bool]:
    bad = figure is not None and bound is not None and not figure <= bound
    return reason, figure, bound, bad


# --- stage 5: ASR and cross-check ------------------------------------------------------------


class Transcriber:
    """Stage 5: transcribe every kept segment; cross-check given transcripts by CER (drop over
    ``max_cer``); where none is given, ASR's text becomes the transcript (``text_source=asr``)."""

    stage = "asr"

    def __init__(self, config: ASRConfig) -> None:
        from audiotok.asr import get_asr

        self.config = config
        options = dict(config.options)
        if config.model:
            options.setdefault("model", config.model)
        self.asr = get_asr(config.backend, **options)

    def __call__(self, rows: Rows) -> Rows:
        return isolate(rows, self.stage, self._run)

    def _run(self, rows: Rows) -> None:
        from audiotok.metrics.text import character_error_rate

        cfg = self.config
        segments = [(row, seg) for row in rows for seg in row["segments"]]
        rate = rows[0]["sample_rate"]
        results = self.asr.transcribe([s["wave"] for _, s in segments], rate, cfg.language)
        kept_ids = set()
        for (row, seg), result in zip(segments, results, strict=True):
            seg["asr_text"] = result.text
            if seg["text"] is not None:
                cer = float(character_error_rate(seg["text"], result.text))
                seg["asr_cer"] = cer
                if cer > cfg.max_cer:
                    drop(row, seg, self.stage, "cer_too_high", cer, threshold=cfg.max_cer)
                    continue
            elif not result.text.strip():
                drop(row, seg, self.stage, "asr_empty", 0.0)
                continue
            elif (
                cfg.min_avg_logprob is not None
                and result.avg_logprob is not None
                and result.avg_logprob < cfg.min_avg_logprob
            ):
                drop(row, seg, self.stage, "low_asr_confidence", result.avg_logprob,
                     threshold=cfg.min_avg_logprob)  # fmt: skip
                continue
            else:
                seg["text"], seg["text_source"] = result.text.strip(), "asr"
            if seg["language"] is None:
                seg["language"] = result.language
            kept_ids.add(id(seg))
        for row in rows:
            row["segments"] = [s for s in row["segments"] if id(s) in kept_ids]


# --- stage 6: tokenize -----------------------------------------------------------------------


class Tokenize:
    """Stage 6: every tokenizer spec on every kept segment, batched; codes as int32 ``[K, T]``.

    A segment one tokenizer cannot encode is dropped (``tokenize_failed``) with the message.
    """

    stage = "tokenize"

    def __init__(self, config: TokenizeConfig, device: str | None = None) -> None:
        from audiotok.tokenizers import get_tokenizer

        self.config = config
        self.tokenizers = {
            spec: get_tokenizer(
                spec, weights=config.weights.get(spec), device=device, debug=config.debug
            )
            for spec in config.specs
        }

    def __call__(self, rows: Rows) -> Rows:
        for row in rows:
            if alive(row) and row["segments"]:
                self._tokenize_row(row)
        return rows

    def _tokenize_row(self, row: Row) -> None:
        rate = row["sample_rate"]
        for spec, tokenizer in self.tokenizers.items():
            column = token_column(spec)
            segments = row["segments"]
            size = max(1, self.config.batch_size)
            for start in range(0, len(segments), size):
                batch = segments[start : start + size]
                try:
                    encoded = tokenizer.encode([s["wave"] for s in batch], rate)
                except Exception:
                    encoded = [self._one(tokenizer, s, rate) for s in batch]
                for seg, tokens in zip(batch, encoded, strict=True):
                    if isinstance(tokens, str):
                        seg["tokenize_error"] = f"{spec}: {tokens}"
                    else:
                        codes = tokens.codes.cpu().numpy().astype(np.int32)
                        seg["tokens"][column] = (codes, float(tokens.frame_rate))
        kept = []
        for seg in row["segments"]:
            if "tokenize_error" in seg:
                drop(row, seg, self.stage, "tokenize_failed", None, detail=seg["tokenize_error"])
            else:
                kept.append(seg)
        row["segments"] = kept

    @staticmethod
    def _one(tokenizer: Any, seg: dict[str, Any], rate: int) -> Any:
        try:
            return tokenizer.encode([seg["wave"]], rate)[0]
        except Exception as exc:
            return f"{type(exc).__name__}: {exc}"


# --- stage 7: speaker embedding --------------------------------------------------------------


class EmbedSpeakers:
    """Stage 7: a speaker embedding (float32 ``[D]``) for every kept segment."""

    stage = "speaker"

    def __init__(self, config: SpeakerConfig) -> None:
        from audiotok.speaker import get_speaker_encoder

        self.encoder = get_speaker_encoder(config.encoder)

    def __call__(self, rows: Rows) -> Rows:
        return isolate(rows, self.stage, self._run)

    def _run(self, rows: Rows) -> None:
        segments = [seg for row in rows for seg in row["segments"]]
        embeddings = np.asarray(
            self.encoder.embed([s["wave"] for s in segments], rows[0]["sample_rate"]),
            dtype=np.float32,
        )
        for seg, vector in zip(segments, embeddings, strict=True):
            seg["speaker_embedding"] = vector


# --- stage 8 (driver side): file row -> shard rows -------------------------------------------


def finalize(row: Row, audio_flac: bool = False) -> dict[str, Any]:
    """The file's result for the `ShardWriter`: its shard rows (one per kept segment, columns
    of `data_prep.shards.SHARD_COLUMNS` plus token columns) and its drop and error records."""
    source = row["source"]
    out = []
    for seg in row["segments"] if alive(row) else []:
        record: dict[str, Any] = {
            "id": segment_id(source["source_id"], seg["index"]),
            "source_id": source["source_id"],
            "source_path": source["path"],
            "start": float(seg["start"]),
            "end": float(seg["end"]),
            "duration": float(seg["duration"]),
            "sample_rate": int(row["sample_rate"]),
            "language": seg["language"],
            "text": seg["text"],
            "text_source": seg["text_source"],
            "asr_text": seg["asr_text"],
            "asr_cer": seg["asr_cer"],
            "speaker": source.get("speaker"),
            "speaker_embedding": None
            if seg["speaker_embedding"] is None
            else np.asarray(seg["speaker_embedding"], dtype=np.float32),
            "snr_db": seg["snr_db"],
            "speech_ratio": seg["speech_ratio"],
            "clipping_ratio": seg["clipping_ratio"],
            "dnsmos_ovrl": seg["dnsmos_ovrl"],
        }
        for column, (codes, frame_rate) in seg["tokens"].items():
            record[column] = codes
            record[f"{column}_frame_rate"] = frame_rate
        if audio_flac:
            record["audio_flac"] = flac_bytes(seg["wave"], row["sample_rate"])
        out.append(record)
    return {
        "source_id": source["source_id"],
        "path": source["path"],
        "duration": float(row["duration"]),
        "rows": out,
        "dropped": row["dropped"] if alive(row) else [],
        "errors": row["errors"],
    }


def flac_bytes(wave: np.ndarray, sample_rate: int) -> bytes:
    import io

    import soundfile as sf

    buffer = io.BytesIO()
    sf.write(buffer, np.clip(wave, -1.0, 1.0), sample_rate, format="FLAC", subtype="PCM_16")
    return buffer.getvalue()
