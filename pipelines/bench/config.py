"""`BenchConfig`: what `audiotok bench` measures and how it runs."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

# Works offline with no weights: the classic codecs (measured bitrates, real bitstreams).
DEFAULT_TOKENIZERS = (
    "opus@6kbps",
    "opus@12kbps",
    "opus@24kbps",
    "mp3@32kbps",
    "amrnb@12.2kbps",
    "g722",
    "codec2@3200",
    "mulaw",
)
DEFAULT_METRICS = (
    "si_sdr",
    "mel_distance",
    "stft_distance",
    "pesq_wb",
    "pesq_nb",
    "stoi",
    "estoi",
    "mcd",
    "f0",
    "speaker_sim",
    "dnsmos",
    "utmos",
    "dwer",
)


@dataclass
class BenchConfig:
    """Settings of one benchmark run.

    Attributes:
        tokenizers: tokenizer specs (`audiotok list-tokenizers`).
        metrics: metric names (`audiotok.metrics.list_metrics`).
        weights: spec -> Hugging Face id or local directory, for tokenizers with weights.
        debug: tiny randomly initialised models instead of weights (smoke tests only).
        metric_options: metric name -> options, e.g. ``{"speaker_sim": {"encoder": ...}}``.
        examples: utterances whose original and reconstructions go into the report's players.
        probe: a folder of FSDD recordings (``<digit>_<speaker>_<index>.wav``) for the
            frozen-token probe; None skips it.
        probe_files: at most this many FSDD files, spread over digits and speakers.
        device: ``cpu``, ``cuda``, ... (default: CUDA when present).
        workers: Ray actors (default: one per CPU, or per GPU when there are GPUs).
        limit: at most this many utterances.
    """

    tokenizers: tuple[str, ...] = DEFAULT_TOKENIZERS
    metrics: tuple[str, ...] = DEFAULT_METRICS
    weights: dict[str, str] = field(default_factory=dict)
    debug: bool = False
    metric_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    examples: int = 3
    probe: str | None = None
    probe_files: int = 500
    device: str | None = None
    workers: int | None = None
    limit: int | None = None

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["tokenizers"], data["metrics"] = list(self.tokenizers), list(self.metrics)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BenchConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"bench config: unknown key(s) {', '.join(unknown)}")
        values = dict(data)
        for name in ("tokenizers", "metrics"):
            if name in values:
                values[name] = tuple(values[name])
        return cls(**values)

    def pair_settings(self, spec: str) -> str:
        """Hash of what shapes one (utterance, tokenizer) row: a rerun reuses a row only when
        its tokenizer, weights, debug flag, metrics and their options are unchanged."""
        data = {
            "tokenizer": spec,
            "weights": self.weights.get(spec),
            "debug": self.debug,
            "metrics": sorted(self.metrics),
            "metric_options": self.metric_options,
        }
        text = json.dumps(data, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]
