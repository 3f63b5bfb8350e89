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


def gemm_flops_per_second(n: int = 1280, rows: int = 1500, repeats: int = 7) -> float:
    """fp32 matrix-multiply rate of this CPU on transformer-shaped GEMMs ``[rows, n] @ [n, n]``."""
    a = torch.randn(rows, n)
    b = torch.randn(n, n)
    seconds = median_seconds(lambda: a @ b, repeats=repeats, warmup=2)
    return 2 * rows * n * n / seconds


def count_flops(fn: Callable[[], Any]) -> int:
    """Floating-point operations torch counts for one call of ``fn`` (matmuls, convs, attention)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())
