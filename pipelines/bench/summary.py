"""Result rows -> the per-tokenizer summary that the tables, plots and report show.

Per tokenizer: token statistics (nominal kbps; bytes actually written for bitstream codecs;
for token codecs the empirical entropy of the codes, per codebook, over the whole corpus, which
is what an ideal unigram entropy coder would reach, and codebook utilisation), speed (median x
real time) and peak memory (largest), every metric's mean and 95 % confidence interval over
utterances, the corpus-level dWER/dCER, skipped metrics with their reasons, and errors.
"""

from __future__ import annotations

import math
import statistics
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from audiotok.metrics.builtin import corpus_asr_distance
from audiotok.metrics.registry import metric_outputs
from audiotok.tokens import Tokens
from pipelines.bench.config import BenchConfig
from pipelines.bench.stats import mean_ci95

Row = dict[str, Any]


def build_summary(
    rows: list[Row],
    config: BenchConfig,
    out_dir: Path,
    *,
    data: str,
    n_utterances: int,
    device: str,
    probe: dict[str, dict[str, float]] | None = None,
) -> dict[str, Any]:
    """The summary dict (schema: ``docs/ARCHITECTURE.md``, "Bench outputs")."""
    outputs = [o for name in config.metrics for o in metric_outputs(name)]
    by_spec: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        by_spec[row["tokenizer"]].append(row)
    tokenizers = [
        _tokenizer_summary(spec, by_spec.get(spec, []), outputs, out_dir, (probe or {}).get(spec))
        for spec in config.tokenizers
    ]
    return {
        "title": "audiotok bench",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "device": device,
        "data": data,
        "n_utterances": n_utterances,
        "metrics": [
            {
                "name": o.name,
                "label": o.label,
                "higher_is_better": o.higher_is_better,
                "unit": o.unit,
            }
            for o in outputs
            if not o.corpus  # corpus-level scores have their own table
        ],
        "tokenizers": tokenizers,
        "examples": _examples(rows, config),
    }


def _tokenizer_summary(
    spec: str,
    rows: list[Row],
    outputs: list[Any],
    out_dir: Path,
    probe: dict[str, float] | None,
) -> dict[str, Any]:
    ok = [r for r in rows if r["error"] is None]
    first = ok[0] if ok else {}
    skipped = _skipped(rows)
    if probe and "error" in probe:
        skipped["probe"], probe = str(probe["error"]), None
    summary: dict[str, Any] = {
        "tokenizer": spec,
        "family": first.get("family", spec.split("@")[0]),
        "can_decode": first.get("can_decode", False),
        "nominal_kbps": first.get("nominal_kbps"),
        "measured_kbps": _bytes_kbps(ok),
        "tokens_per_second": _mean([r.get("tokens_per_second") for r in ok]),
        "encode_xrt": _median([r.get("encode_xrt") for r in ok]),
        "decode_xrt": _median([r.get("decode_xrt") for r in ok]),
        "encode_peak_mb": _max([r.get("encode_peak_mb") for r in ok]),
        "decode_peak_mb": _max([r.get("decode_peak_mb") for r in ok]),
        "n": len(ok),
        "errors": len(rows) - len(ok),
        "error_reasons": dict(Counter(r["error"]["reason"] for r in rows if r["error"])),
        "metrics": {},
        "skipped": skipped,
        "corpus": {},
        "probe": probe or {},
    }
    summary.update(_code_statistics(ok, out_dir))
    for output in outputs:
        if output.corpus:
            continue
        values = [r["metrics"][output.name] for r in ok if output.name in r["metrics"]]
        if values:
            mean, half, n = mean_ci95(values)
            summary["metrics"][output.name] = {"mean": mean, "ci95": half, "n": n}
    pairs = [
        (r["metrics"]["asr_reference"], r["metrics"]["asr_text"])
        for r in ok
        if "asr_text" in r["metrics"]
    ]
    if any(o.corpus for o in outputs) and pairs:
        summary["corpus"] = {**corpus_asr_distance(pairs), "n": len(pairs)}
    return summary


def _bytes_kbps(rows: list[Row]) -> float | None:
    """Bits written over seconds encoded, pooled over the corpus (bitstream codecs)."""
    measured = [(r["measured_kbps"], r["duration"]) for r in rows if r.get("measured_kbps")]
    if not measured:
        return None
    return sum(k * d for k, d in measured) / sum(d for _, d in measured)


def _code_statistics(rows: list[Row], out_dir: Path) -> dict[str, Any]:
    """Entropy bitrate and codebook utilisation of token codecs (not of bitstreams, whose
    bytes are already entropy coded)."""
    rows = [r for r in rows if not r.get("bitstream") and r.get("tokens_file")]
    if not rows:
        return {"entropy_kbps": None, "utilisation": None}
    counts: list[Counter[int]] | None = None
    sizes: tuple[int, ...] = ()
    frames = 0
    seconds = 0.0
    for row in rows:
        tokens = Tokens.load(out_dir / row["tokens_file"])
        codes = tokens.codes.numpy()
        if counts is None:
            counts, sizes = [Counter() for _ in range(codes.shape[0])], tokens.codebook_sizes
        for k, codebook in enumerate(codes):
            counts[k].update(codebook.tolist())
        frames += codes.shape[1]
        seconds += tokens.duration
    assert counts is not None
    bits_per_frame = sum(_entropy_bits(c) for c in counts)
    return {
        "entropy_kbps": bits_per_frame * frames / max(seconds, 1e-9) / 1000,
        "utilisation": float(np.mean([len(c) / s for c, s in zip(counts, sizes, strict=True)])),
    }


def _entropy_bits(counts: Counter[int]) -> float:
    total = sum(counts.values())
    return -sum(n / total * math.log2(n / total) for n in counts.values()) if total else 0.0


def _skipped(rows: list[Row]) -> dict[str, str]:
    """metric -> reason; a metric skipped on some utterances only says on how many."""
    reasons: dict[str, Counter[str]] = defaultdict(Counter)
    for row in rows:
        for name, reason in row["skipped"].items():
            reasons[name][reason] += 1
    out = {}
    for name, counter in reasons.items():
        reason, count = counter.most_common(1)[0]
        out[name] = reason if count == len(rows) else f"{reason} ({count} of {len(rows)} pairs)"
    return out


def _examples(rows: list[Row], config: BenchConfig) -> list[dict[str, Any]]:
    by_utterance: dict[str, dict[str, str]] = defaultdict(dict)
    for row in rows:
        if row.get("example"):
            by_utterance[row["utterance"]][row["tokenizer"]] = row["example"]
    order = {spec: i for i, spec in enumerate(config.tokenizers)}
    return [
        {
            "utterance": utterance,
            "original": f"audio/{utterance}/original.wav",
            "decoded": dict(sorted(decoded.items(), key=lambda item: order.get(item[0], 0))),
        }
        for utterance, decoded in sorted(by_utterance.items())
    ]


def _values(values: list[Any]) -> list[float]:
    return [float(v) for v in values if v is not None]


def _mean(values: list[Any]) -> float | None:
    clean = _values(values)
    return float(statistics.fmean(clean)) if clean else None


def _median(values: list[Any]) -> float | None:
    clean = _values(values)
    return float(statistics.median(clean)) if clean else None


def _max(values: list[Any]) -> float | None:
    clean = _values(values)
    return max(clean) if clean else None
