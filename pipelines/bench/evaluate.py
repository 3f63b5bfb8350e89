"""`Evaluator`: scores (utterance, tokenizer) pairs; built once per worker.

One result row per pair (see ``docs/ARCHITECTURE.md``, "Bench results"): the tokenizer's
figures (nominal and measured bitrate, tokens per second), encode and decode speed (x real
time) and peak memory, every metric's values, the metrics skipped with their reasons, and the
tokens file. A failure is recorded in the row (``error``: stage and reason) and the run goes on.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from audiotok.audio import save_audio
from audiotok.errors import AudiotokError, MetricError
from audiotok.metrics.align import align_pair
from audiotok.metrics.registry import METRIC_RATE, MetricPair, ReconstructionMetric, get_metric
from audiotok.tokenizers import AudioTokenizer, get_tokenizer
from audiotok.tokenizers.registry import parse_spec
from audiotok.tokens import Tokens
from pipelines.bench.config import BenchConfig
from pipelines.bench.data import Utterance, load_utterance
from pipelines.bench.measure import Measured

Row = dict[str, Any]


def slug(spec: str) -> str:
    """``opus@12kbps`` -> ``opus_12kbps`` (file and folder names)."""
    return re.sub(r"[^0-9A-Za-z]+", "_", spec).strip("_").lower()


def tokens_path(out_dir: Path, spec: str, utterance: str) -> Path:
    return out_dir / "tokens" / slug(spec) / f"{utterance}.npz"


def build_tokenizer(spec: str, config: BenchConfig, device: str | None) -> AudioTokenizer:
    """The tokenizer ``spec`` with its configured weights; ``config.debug`` (tiny random
    models) applies to the tokenizers that have weights, the others are built as they are."""
    family, _ = parse_spec(spec)
    return get_tokenizer(
        spec,
        weights=config.weights.get(spec),
        device=device,
        debug=config.debug and family.cls.needs_weights,
    )


class Evaluator:
    """Tokenizers and metrics of one `BenchConfig`, loaded once, used for many pairs.

    Args:
        config: the run's settings.
        out_dir: where tokens and example audio go.
        device: where tokenizer models run (default: the config's, else CUDA when present).
    """

    def __init__(self, config: BenchConfig, out_dir: str | Path, device: str | None = None):
        self.config = config
        self.out_dir = Path(out_dir)
        self.device = torch.device(
            device or config.device or ("cuda" if torch.cuda.is_available() else "cpu")
        )
        self._tokenizers: dict[str, AudioTokenizer | AudiotokError] = {}
        self.metrics: dict[str, ReconstructionMetric] = {}
        self.unavailable: dict[str, str] = {}
        for name in config.metrics:
            metric = get_metric(name, **config.metric_options.get(name, {}))
            reason = metric.availability()
            if reason is None:
                self.metrics[name] = metric
            else:
                self.unavailable[name] = reason

    def evaluate_all(self, tasks: list[tuple[Utterance, list[str], bool]]) -> list[Row]:
        """`evaluate` on each ``(utterance, specs, example)`` in turn."""
        return [row for task in tasks for row in self.evaluate(*task)]

    def evaluate(self, utterance: Utterance, specs: list[str], example: bool) -> list[Row]:
        """One row per spec for ``utterance`` (reference-side values shared between specs)."""
        try:
            wave, rate = load_utterance(utterance)
        except AudiotokError as exc:
            return [self._failed(utterance, spec, "load", exc) for spec in specs]
        if example:
            save_audio(self._example_path(utterance, "original"), wave, rate)
        cache: dict[str, Any] = {}
        return [self._pair(utterance, wave, rate, spec, cache, example) for spec in specs]

    # ---- one pair -------------------------------------------------------------------------
    def _pair(
        self,
        utterance: Utterance,
        wave: np.ndarray,
        rate: int,
        spec: str,
        cache: dict[str, Any],
        example: bool,
    ) -> Row:
        row = self._base_row(utterance, spec, wave.size / rate)
        tokenizer = self._tokenizer(spec)
        if isinstance(tokenizer, AudiotokError):
            return self._failed(utterance, spec, "build", tokenizer, row)
        stage = "encode"
        try:
            with torch.inference_mode(), Measured(self.device) as encoding:
                tokens = tokenizer.encode([wave], rate)[0]
            row.update(_token_figures(tokenizer, tokens, row["duration"]))
            row["encode_xrt"] = row["duration"] / max(encoding.seconds, 1e-9)
            row["encode_peak_mb"] = encoding.peak_mb
            row["tokens_file"] = self._save_tokens(tokens, spec, utterance.id)
            if not tokenizer.can_decode:
                return row
            stage = "decode"
            with torch.inference_mode(), Measured(self.device) as decoding:
                decoded = tokenizer.decode([tokens])[0].float().cpu().numpy()
            row["decode_xrt"] = row["duration"] / max(decoding.seconds, 1e-9)
            row["decode_peak_mb"] = decoding.peak_mb
            if example:
                path = self._example_path(utterance, slug(spec))
                save_audio(path, decoded, tokenizer.sample_rate)
                row["example"] = str(path.relative_to(self.out_dir))
            stage = "align"
            aligned = align_pair(wave, decoded, rate, tokenizer.sample_rate, METRIC_RATE)
        except (AudiotokError, ValueError, RuntimeError) as exc:
            return self._failed(utterance, spec, stage, exc, row)
        row["delay_ms"] = 1000.0 * aligned.delay_samples / aligned.sample_rate
        pair = MetricPair(
            aligned.reference,
            aligned.degraded,
            utterance.id,
            utterance.language,
            cache,
            aligned.sample_rate,
        )
        self._score(pair, row)
        return row

    def _score(self, pair: MetricPair, row: Row) -> None:
        for name, metric in self.metrics.items():
            try:
                row["metrics"].update(metric(pair))
            except MetricError as exc:
                row["skipped"][name] = exc.reason
            except (AudiotokError, ValueError, RuntimeError) as exc:  # a bug or a bad model:
                row["skipped"][name] = f"failed: {type(exc).__name__}: {exc}"  # recorded
        for name, reason in self.unavailable.items():
            row["skipped"][name] = reason

    # ---- helpers --------------------------------------------------------------------------
    def _tokenizer(self, spec: str) -> AudioTokenizer | AudiotokError:
        if spec not in self._tokenizers:
            try:
                self._tokenizers[spec] = build_tokenizer(spec, self.config, str(self.device))
            except AudiotokError as exc:  # recorded on every pair of this spec
                self._tokenizers[spec] = exc
        return self._tokenizers[spec]

    def _base_row(self, utterance: Utterance, spec: str, duration: float) -> Row:
        return {
            "utterance": utterance.id,
            "path": utterance.path,
            "tokenizer": spec,
            "settings": self.config.pair_settings(spec),
            "duration": duration,
            "language": utterance.language,
            "device": str(self.device),
            "metrics": {},
            "skipped": {},
            "error": None,
        }

    def _failed(
        self,
        utterance: Utterance,
        spec: str,
        stage: str,
        exc: BaseException,
        row: Row | None = None,
    ) -> Row:
        row = row or self._base_row(utterance, spec, 0.0)
        row["error"] = {"stage": stage, "reason": f"{type(exc).__name__}: {exc}"}
        return row

    def _save_tokens(self, tokens: Tokens, spec: str, utterance: str) -> str:
        path = tokens_path(self.out_dir, spec, utterance)
        path.parent.mkdir(parents=True, exist_ok=True)
        tokens.save(path)
        return str(path.relative_to(self.out_dir))

    def _example_path(self, utterance: Utterance, name: str) -> Path:
        folder = self.out_dir / "audio" / utterance.id
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{name}.wav"


def _token_figures(tokenizer: AudioTokenizer, tokens: Tokens, duration: float) -> Row:
    """Nominal bitrate; for bitstreams the bytes actually written; tokens per second."""
    return {
        "family": parse_spec(tokenizer.spec)[0].name,
        "can_decode": tokenizer.can_decode,
        "nominal_kbps": tokenizer.nominal_bitrate / 1000,
        "measured_kbps": tokens.bitrate / 1000 if tokens.is_bitstream else None,
        "bitstream": tokens.is_bitstream,
        "frame_rate": tokens.frame_rate,
        "codebook_sizes": list(tokens.codebook_sizes),
        "tokens_per_second": tokens.num_frames * tokens.num_codebooks / max(duration, 1e-9),
    }
