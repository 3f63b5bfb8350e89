"""Helpers shared by the benchmark scripts: medians of repeated timings and the GEMM rate.

Machines here are noisy: every figure is a median over repeats, and speeds are reported as
ratios against a reference run in the same process.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
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
