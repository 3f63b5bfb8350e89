"""Stages 5-7, the model stages: ASR transcription and cross-check, tokenization, speaker
embeddings. Each is a class built once per process (a Ray actor) and called on batches."""

from __future__ import annotations

from typing import Any

import numpy as np

from data_prep.config import (
    ASRConfig,
    SpeakerConfig,
    TokenizeConfig,
)
from data_prep.stages.rows import (
    Row,
    Rows,
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
        if config.backend == "faster-whisper":
            options.setdefault("cpu_threads", _thread_budget())
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
