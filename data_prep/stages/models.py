"""Stages 5-7, the model stages: ASR transcription and cross-check, tokenization, speaker
embeddings. Each is a class built once per process (a Ray actor) and called on batches."""

from __future__ import annotations

from typing import Any

import numpy as np

from audiotok.asr.base import ASRBackend, Transcript
from audiotok.metrics.text import character_error_rate
from data_prep.config import (
    ASRConfig,
    SpeakerConfig,
    TokenizeConfig,
)
from data_prep.stages.rows import (
    Row,
    Rows,
    Segment,
    alive,
    drop,
    isolate,
    token_column,
)


def _thread_budget() -> int:
    """Threads this process may use: torch's setting, which `RayStage` sets per worker (the
    plain loop keeps torch's default, one per core). Without it CTranslate2 takes 4 threads in
    every worker and oversubscribes the cores."""
    import torch

    return int(torch.get_num_threads())


# ``no_text_reason`` values the ASR stage writes (and the drop reasons with ``require_text``).
LANGUAGE_NOT_COVERED = "asr_language_not_covered"
ASR_EMPTY = "asr_empty"
ASR_OFF = "asr_disabled"


def accept_transcript(result: Transcript, config: ASRConfig) -> str | None:
    """None when the decoder's evidence lets ``result.text`` stand as a transcript, else the
    reason it does not (``asr_low_logprob``, ``asr_no_speech``, ``asr_repetitive``).

    An English-only model fed other speech writes fluent English that was never said; its
    mean token log-probability is what gives it away (``scripts/measure_asr_evidence.py``).
    """
    checks = (
        ("asr_low_logprob", result.avg_logprob, config.accept_min_avg_logprob, -1),
        ("asr_no_speech", result.no_speech_prob, config.accept_max_no_speech_prob, 1),
        ("asr_repetitive", result.compression_ratio, config.accept_max_compression_ratio, 1),
    )
    for reason, figure, bound, sign in checks:
        if bound is not None and figure is not None and (figure - bound) * sign > 0:
            return reason
    if config.accept_min_avg_logprob is not None and result.avg_logprob is None:
        return "asr_low_logprob"  # text with no evidence at all cannot be vouched for
    return None


class Transcriber:
    """Stage 5: transcribe kept segments where the model covers their language (or it is
    unknown); cross-check given transcripts by CER; supply missing ones from ASR only when
    the decoder's evidence accepts them (`accept_transcript`). A segment without usable text
    keeps ``text=""`` with ``no_text_reason``, or is dropped with that reason when
    ``require_text`` is set. ``language`` stays what was given, or becomes the one ASR
    detected when its text was accepted; it is never assumed. With the ASR stage disabled,
    only ``require_text`` is applied."""

    stage = "asr"

    def __init__(self, config: ASRConfig) -> None:
        self.config = config
        self.asr: ASRBackend | None = None
        if asr_enabled(config):
            from audiotok.asr import get_asr

            options = asr_options(config)
            if config.backend == "faster-whisper":
                options.setdefault("cpu_threads", _thread_budget())
            self.asr = get_asr(config.backend, **options)

    def __call__(self, rows: Rows) -> Rows:
        return isolate(rows, self.stage, self._run)

    def _run(self, rows: Rows) -> None:
        segments = [(row, seg) for row in rows for seg in row["segments"]]
        by_language: dict[str | None, list[tuple[Row, Segment]]] = {}
        for row, seg in segments:
            language = seg["language"]
            if self.asr is None:
                self._without_asr(row, seg, ASR_OFF)
            elif language is not None and not self.asr.covers(language):
                self._without_asr(row, seg, LANGUAGE_NOT_COVERED)
            else:
                by_language.setdefault(language, []).append((row, seg))
        rate = rows[0]["sample_rate"]
        for language, group in by_language.items():
            assert self.asr is not None
            results = self.asr.transcribe([s["wave"] for _, s in group], rate, language)
            for (row, seg), result in zip(group, results, strict=True):
                self._judge(row, seg, result)
        for row in rows:
            row["segments"] = [s for s in row["segments"] if not s.get("dropped")]

    def _without_asr(self, row: Row, seg: Segment, reason: str) -> None:
        if seg["text"] is None:
            self._no_text(row, seg, reason, None)

    def _judge(self, row: Row, seg: Segment, result: Transcript) -> None:
        cfg = self.config
        seg["asr_text"] = result.text
        seg["asr_avg_logprob"] = result.avg_logprob
        seg["asr_no_speech_prob"] = result.no_speech_prob
        seg["asr_compression_ratio"] = result.compression_ratio
        rejected = accept_transcript(result, cfg)
        if seg["text"] is not None:
            if rejected and seg["language"] is None:
                return  # the model cannot follow this speech: no cross-check either way
            cer = float(character_error_rate(seg["text"], result.text))
            seg["asr_cer"] = cer
            if cer > cfg.max_cer:
                drop(row, seg, self.stage, "cer_too_high", cer, threshold=cfg.max_cer)
                seg["dropped"] = True
                return
        elif not result.text.strip():
            self._no_text(row, seg, ASR_EMPTY, None)
            return
        elif rejected:
            self._no_text(row, seg, rejected, result.avg_logprob)
            return
        else:
            seg["text"], seg["text_source"] = result.text.strip(), "asr"
        if seg["language"] is None and result.language:
            seg["language"], seg["language_source"] = result.language, "asr"

    def _no_text(self, row: Row, seg: Segment, reason: str, figure: float | None) -> None:
        seg["text"], seg["text_source"], seg["no_text_reason"] = None, None, reason
        if self.config.require_text:
            drop(row, seg, self.stage, reason, figure)
            seg["dropped"] = True


def asr_enabled(config: ASRConfig) -> bool:
    return config.enabled and config.backend != "none"


def asr_options(config: ASRConfig) -> dict[str, Any]:
    """The backend's options: ``asr.options``, with ``asr.model`` unless they name one."""
    options = dict(config.options)
    if config.model:
        options.setdefault("model", config.model)
    return options


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
