"""Helpers shared by the benchmark scripts: medians of repeated timings and the GEMM rate.

Machines here are noisy: every figure is a median over repeats, and speeds are reported as
ratios against a reference run in the same process.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch


def median_seconds(fn: Callable[[], Any], repeats: int = 5, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` over ``repeats`` runs after ``warmup`` untimed runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def gemm_flops_per_second(
    shapes: tuple[tuple[int, int, int], ...] = ((2000, 1280, 1280), (2000, 1280, 5120)),
    repeats: int = 7,
) -> float:
    """Best fp32 matrix-multiply rate of this CPU over transformer-shaped GEMMs
    ``[m, k] @ [k, n]`` (attention projections and MLP), in FLOP/s.
    """
    rates = []
    for m, k, n in shapes:
        a, b = torch.randn(m, k), torch.randn(k, n)
        seconds = median_seconds(lambda a=a, b=b: a @ b, repeats=repeats, warmup=2)
        rates.append(2 * m * k * n / seconds)
    return max(rates)


def count_flops(fn: Callable[[], Any]) -> int:
    """Floating-point operations torch counts for one call of ``fn`` (matmuls, convs, attention)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def start_local_ray(workers: int) -> float:
    """Start a local Ray instance with ``workers`` CPUs, and Ray Data's per-cluster service
    actors with it (statistics, autoscaling, and the actor location tracker that the first
    actor pool creates: on a running cluster they outlive every job), so that a job timed
    afterwards is timed as on a running cluster. Returns the seconds taken."""
    import ray
    import ray.data

    from audiotok.units import init_local_ray

    class Identity:  # defined here so that it travels by value to the warm-up actor
        def __call__(self, batch: Any) -> Any:
            return batch

    began = time.perf_counter()
    init_local_ray(workers)  # as `prepare` and `bench` start theirs
    # from_items runs no task: a task would leave an idle worker behind that no later job of a
    # cluster would find (workers belong to one job).
    ray.data.from_items([{"x": 0}]).map_batches(
        Identity, compute=ray.data.ActorPoolStrategy(size=1), num_cpus=0
    ).materialize()
    return time.perf_counter() - began


def run_pinned(command: list[str], cores: int) -> dict[str, float]:
    """Run ``command`` (a benchmark's child mode) in a fresh process restricted to the first
    ``cores`` CPUs (the affinity is inherited by Ray's raylet and workers); its last stdout line
    is a JSON object of figures."""
    import json
    import os
    import subprocess

    allowed = sorted(os.sched_getaffinity(0))[:cores]
    result = subprocess.run(
        command,
        check=True,
        capture_output=True,
        text=True,
        preexec_fn=lambda: os.sched_setaffinity(0, allowed),
    )
    figures: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    return figures


def median_figures(rows: list[dict[str, float]]) -> dict[str, float]:
    """The median of each figure over repeated runs of one mode."""
    return {key: float(statistics.median(row[key] for row in rows)) for key in rows[0]}


def fsdd_files(count: int) -> list[Path]:
    """``count`` FSDD recordings spread over the sorted folder (every digit and speaker), from
    ``$AUDIOTOK_SHARED_DATA`` (default ``../shared/data``); exits with the reason if absent."""
    import os
    import sys

    root = Path(__file__).resolve().parent.parent
    shared = Path(os.environ.get("AUDIOTOK_SHARED_DATA", root.parent / "shared" / "data"))
    folder = shared / "real" / "fsdd" / "recordings"
    if not folder.is_dir():
        sys.exit(f"FSDD recordings not found at {folder} (set AUDIOTOK_SHARED_DATA)")
    names = sorted(os.listdir(folder))
    step = max(1, len(names) // count)
    return [folder / name for name in names[::step][:count]]


def run_interleaved(
    modes: list[str],
    repeats: int,
    run_one: Callable[[str, int], dict[str, float]],
    show: Callable[[str, dict[str, float]], None],
) -> tuple[dict[str, dict[str, float]], dict[str, list[dict[str, float]]]]:
    """``run_one(mode, repeat)`` for every mode, ``repeats`` times over, modes interleaved so
    that a slow spell of the machine hits them alike; shows each run, then (with repeats) the
    medians. Returns the median figures per mode and every run's figures per mode."""
    runs: dict[str, list[dict[str, float]]] = {mode: [] for mode in modes}
    for repeat in range(repeats):
        for mode in modes:
            runs[mode].append(run_one(mode, repeat))
            show(mode, runs[mode][-1])
    results = {mode: median_figures(rows) for mode, rows in runs.items()}
    if repeats > 1:
        print(f"medians of {repeats} runs:")
        for mode in modes:
            show(mode, results[mode])
    return results, runs


def paired_ratios(
    runs: dict[str, list[dict[str, float]]], numerator: str, denominator: str, key: str
) -> list[float]:
    """``runs[numerator][i][key] / runs[denominator][i][key]`` for each round ``i``: two modes
    run back to back, so a slow spell of the machine cancels out of their ratio."""
    return [
        top[key] / bottom[key]
        for top, bottom in zip(runs[numerator], runs[denominator], strict=True)
    ]


def describe_ratios(ratios: list[float]) -> str:
    """``"median 1.08x (runs 1.09, 1.08, ...)"``."""
    each = ", ".join(f"{ratio:.2f}" for ratio in ratios)
    return f"median {statistics.median(ratios):.2f}x (runs {each})"
