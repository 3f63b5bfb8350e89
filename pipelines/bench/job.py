"""`run_bench`: score the pairs, probe, summarise, and write every output of a run.

Outputs in ``out_dir``: ``results.jsonl`` (one line per utterance and tokenizer),
``summary.json`` / ``summary.csv`` / ``summary.md`` (mean and 95 % confidence interval per
metric), ``plots/rd_<metric>.png`` (rate-distortion), ``report.html`` (tables, plots, players),
``tokens/<tokenizer>/<utterance>.npz`` and ``audio/<utterance>/*.wav`` (report examples).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from audiotok.errors import AudiotokError
from pipelines.bench.config import BenchConfig
from pipelines.bench.evaluate import build_tokenizer
from pipelines.bench.html import write_report
from pipelines.bench.measure import device_description
from pipelines.bench.plots import rate_distortion_plots
from pipelines.bench.preflight import check_bench
from pipelines.bench.probe import fsdd_items, probe_tokenizer
from pipelines.bench.run import score_pairs
from pipelines.bench.summary import build_summary
from pipelines.bench.tables import write_summary_csv, write_summary_md


@dataclass
class BenchReport:
    out_dir: Path
    report_html: Path
    summary: dict[str, Any]
    pairs_scored: int
    pairs_reused: int
    wall_seconds: float


def run_bench(
    inputs: Sequence[str | Path],
    out_dir: str | Path,
    config: BenchConfig | None = None,
    *,
    use_ray: bool | None = None,
    ray_address: str | None = None,
    progress: bool = True,
) -> BenchReport:
    """Benchmark ``config.tokenizers`` on the audio in ``inputs``; resumable (a rerun reuses
    the finished pairs of ``out_dir/results.jsonl``).

    Args:
        inputs: audio files, folders, globs, or `prepare` output folders with FLAC audio.
        use_ray: True: Ray Data actors (``ray.init()`` locally, or ``ray_address``); False:
            a plain loop in this process; None (default): Ray with two workers or more or a
            cluster, else the plain loop (`audiotok.units.use_ray_for`).

    Raises:
        ConfigurationError: a tokenizer or metric cannot run here (before any file is read).
    """
    config = config or BenchConfig()
    check_bench(config)
    out = Path(out_dir)
    started = time.perf_counter()
    run = score_pairs(
        inputs, out, config, use_ray=use_ray, ray_address=ray_address, progress=progress
    )
    probe = _probe(config, out) if config.probe else None
    summary = build_summary(
        run.rows,
        config,
        out,
        data=", ".join(str(i) for i in inputs),
        n_utterances=len(run.utterances),
        device=device_description(run.device, threads=1),
        probe=probe,
    )
    summary["run"] = {
        "pairs_scored": run.pairs_scored,
        "pairs_reused": run.pairs_reused,
        "workers": run.workers,
        "mode": "ray" if run.used_ray else "local",
        "scoring_seconds": run.wall_seconds,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    write_summary_csv(summary, out / "summary.csv")
    write_summary_md(summary, out / "summary.md")
    plots = rate_distortion_plots(summary, out / "plots")
    html = write_report(summary, plots, out)
    return BenchReport(
        out, html, summary, run.pairs_scored, run.pairs_reused, time.perf_counter() - started
    )


def _probe(config: BenchConfig, out: Path) -> dict[str, dict[str, float]]:
    """Probe accuracies per tokenizer; cached in ``probe.json`` under the same settings."""
    assert config.probe is not None
    cache_path = out / "probe.json"
    cache = json.loads(cache_path.read_text()) if cache_path.is_file() else {}
    items = fsdd_items(config.probe, config.probe_files)
    results: dict[str, dict[str, float]] = {}
    for spec in config.tokenizers:
        key = f"{config.pair_settings(spec)}:{Path(config.probe).resolve()}:{len(items)}"
        if key not in cache:
            try:
                device = config.device or ("cuda" if torch.cuda.is_available() else None)
                tokenizer = build_tokenizer(spec, config, device)
                cache[key] = probe_tokenizer(tokenizer, items)
            except AudiotokError as exc:
                cache[key] = {"error": f"{type(exc).__name__}: {exc}"}
            cache_path.write_text(json.dumps(cache, indent=2, sort_keys=True) + "\n")
        results[spec] = cache[key]
    return results
