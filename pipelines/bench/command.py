"""``audiotok bench``: arguments -> `BenchConfig` -> `run_bench` -> a short printed summary."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pipelines.bench.config import DEFAULT_METRICS, DEFAULT_TOKENIZERS, BenchConfig


def add_bench_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    bench = commands.add_parser(
        "bench", help="codecs and tokenizers on rate, distortion, speed; a report with players"
    )
    bench.add_argument(
        "--data", nargs="+", required=True, help="audio files, folders, globs or prepare shards"
    )
    bench.add_argument("--out", "-o", type=Path, required=True, help="output directory")
    bench.add_argument(
        "--tokenizers", default=",".join(DEFAULT_TOKENIZERS), help="comma-separated specs"
    )
    bench.add_argument("--metrics", default=",".join(DEFAULT_METRICS), help="comma-separated")
    bench.add_argument(
        "--weights", action="append", default=[], metavar="SPEC=DIR_OR_ID", help="repeatable"
    )
    bench.add_argument(
        "--metric-option",
        action="append",
        default=[],
        metavar="METRIC.KEY=VALUE",
        help="e.g. speaker_sim.encoder=resemblyzer or dwer.model=/path/to/ct2 (repeatable)",
    )
    bench.add_argument("--probe", help="FSDD recordings folder for the digit/speaker probe")
    bench.add_argument("--probe-files", type=int, default=500)
    bench.add_argument("--examples", type=int, default=3, help="utterances with audio players")
    bench.add_argument("--limit", type=int, help="at most N utterances")
    bench.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: CUDA when present)")
    bench.add_argument("--ray-address", help="an existing Ray cluster (default: local Ray)")
    bench.add_argument(
        "--workers",
        type=int,
        help="workers (default: CPUs, or GPUs); 1 runs in this process, 2 or more on local Ray",
    )
    bench.add_argument("--no-ray", action="store_true", help="plain single-process loop")
    bench.add_argument(
        "--random-weights",
        action="store_true",
        help="tiny randomly initialised models instead of weights (smoke tests only)",
    )
    bench.add_argument(
        "--check", action="store_true", help="only check that every tokenizer and metric can run"
    )
    bench.set_defaults(handler=bench_command)


def config_from_args(args: argparse.Namespace) -> BenchConfig:
    return BenchConfig(
        tokenizers=_names(args.tokenizers),
        metrics=_names(args.metrics),
        weights=dict(_key_value(item, "--weights") for item in args.weights),
        debug=args.random_weights,
        metric_options=_metric_options(args.metric_option),
        examples=args.examples,
        probe=args.probe,
        probe_files=args.probe_files,
        device=args.device,
        workers=args.workers,
        limit=args.limit,
    )


def bench_command(args: argparse.Namespace) -> int:
    from pipelines.bench.job import run_bench

    if args.check:
        from pipelines.bench.preflight import bench_checks
        from pipelines.prepare import print_checks

        return print_checks("bench", bench_checks(config_from_args(args)))
    report = run_bench(
        args.data,
        args.out,
        config_from_args(args),
        use_ray=False if args.no_ray else None,
        ray_address=args.ray_address,
    )
    summary = report.summary
    print(
        f"{report.pairs_scored} pair(s) scored, {report.pairs_reused} reused, "
        f"{summary['n_utterances']} utterance(s), {report.wall_seconds:.1f} s"
    )
    for line in bench_lines(summary):
        print(line)
    print(f"report: {report.report_html.resolve()}")
    return 0 if any(row["n"] for row in summary["tokenizers"]) else 1


def bench_lines(summary: dict[str, Any]) -> list[str]:
    """One line per tokenizer: kbps and the headline metrics."""
    return [_line(row) for row in summary["tokenizers"]]


def _line(row: dict[str, Any]) -> str:
    kbps = row["measured_kbps"] or row.get("entropy_kbps") or row["nominal_kbps"] or 0.0
    parts = [f"{row['tokenizer']:<24}{kbps:>8.2f} kbps"]
    for name in ("pesq_wb", "stoi", "si_sdr"):
        if name in row["metrics"]:
            parts.append(f"{name} {row['metrics'][name]['mean']:.2f}")
    if row["errors"]:
        parts.append(f"{row['errors']} error(s)")
    return "  ".join(parts)


def _names(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip())


def _key_value(item: str, flag: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key or not value:
        raise SystemExit(f"audiotok bench: {flag} expects KEY=VALUE, got {item!r}")
    return key.strip(), value.strip()


def _metric_options(items: list[str]) -> dict[str, dict[str, Any]]:
    options: dict[str, dict[str, Any]] = {}
    for item in items:
        key, value = _key_value(item, "--metric-option")
        metric, dot, option = key.partition(".")
        if not dot:
            raise SystemExit(f"audiotok bench: --metric-option expects METRIC.KEY=VALUE: {item!r}")
        options.setdefault(metric, {})[option] = value
    return options
