"""Stage 3: speech segments from the VAD, merged and split to the configured bounds, with
their transcripts where timings allow."""

from __future__ import annotations

import math
from typing import Any

from data_prep.config import (
    SegmentConfig,
)
from data_prep.stages.rows import (
    Row,
    Rows,
    alive,
    drop,
    fail_exception,
)


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
                    fail_exception(row, self.stage)
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
                    "no_text_reason": None,
                    "asr_text": None,
                    "asr_cer": None,
                    "asr_avg_logprob": None,
                    "asr_no_speech_prob": None,
                    "asr_compression_ratio": None,
                    "language": given_language,
                    "language_source": "given" if given_language else None,
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
