"""Rate-distortion plots of `audiotok bench`: one PNG per metric, quality against bitrate."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from itertools import cycle
from pathlib import Path
from typing import Any

import matplotlib

# Agg renders to files only: benchmarks run on headless servers, where any GUI backend fails.
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.ticker import LogFormatter

from pipelines.bench.tables import metric_result, optional_float

# Best bitrate first: measured on the actual packets, then the entropy bound of the tokens
# (encode-only tokenizers), then what the tokenizer spec promises.
KBPS_SOURCES = ("measured_kbps", "entropy_kbps", "nominal_kbps")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h")


@dataclass(frozen=True)
class _Point:
    family: str
    tokenizer: str
    kbps: float
    kbps_source: str  # "measured", "entropy" or "nominal"
    mean: float
    ci95: float


def bitrate_kbps(tokenizer: dict[str, Any]) -> tuple[float, str] | None:
    """(kbps, source) from the best available bitrate, or None when none is usable.

    A log axis cannot show zero or negative bitrates, so those count as unusable too.
    """
    for key in KBPS_SOURCES:
        value = optional_float(tokenizer.get(key))
        if value is not None and value > 0:
            return value, key.removesuffix("_kbps")
    return None


def rate_distortion_plots(summary: dict[str, Any], out_dir: Path | str) -> list[Path]:
    """Write ``rd_<metric>.png`` for every metric with at least one plottable tokenizer.

    Each codec family is one line through its tokenizers sorted by bitrate, with ci95 error
    bars, a marker per tokenizer and the tokenizer spec written beside it. Returns the paths
    in the summary's metric order.
    """
    out_dir = Path(out_dir)
    written = []
    for metric in summary["metrics"]:
        points = _points(summary, metric["name"])
        if not points:
            continue  # nothing measured (e.g. only encode-only tokenizers): no empty plot
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / f"rd_{_safe_name(metric['name'])}.png"
        _plot_metric(metric, points, path)
        written.append(path)
    return written


def _points(summary: dict[str, Any], metric: str) -> list[_Point]:
    points = []
    for tokenizer in summary["tokenizers"]:
        result = metric_result(tokenizer, metric)
        bitrate = bitrate_kbps(tokenizer)
        if result is None or bitrate is None:
            continue
        points.append(
            _Point(
                family=str(tokenizer.get("family") or tokenizer["tokenizer"]),
                tokenizer=str(tokenizer["tokenizer"]),
                kbps=bitrate[0],
                kbps_source=bitrate[1],
                mean=float(result["mean"]),
                ci95=optional_float(result.get("ci95")) or 0.0,
            )
        )
    return points


def _plot_metric(metric: dict[str, Any], points: list[_Point], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=110)
    try:
        markers = cycle(_MARKERS)
        families = sorted({p.family for p in points})
        for index, family in enumerate(families):
            members = sorted((p for p in points if p.family == family), key=lambda p: p.kbps)
            _plot_family(ax, family, members, f"C{index % 10}", markers)
        _decorate(ax, metric, points)
        fig.tight_layout()
        fig.savefig(path, format="png")
    finally:
        plt.close(fig)  # pyplot keeps every open figure alive otherwise


def _plot_family(
    ax: Axes, family: str, members: list[_Point], colour: str, markers: cycle[str]
) -> None:
    sources = sorted({p.kbps_source for p in members})
    ax.errorbar(
        [p.kbps for p in members],
        [p.mean for p in members],
        yerr=[p.ci95 for p in members],
        color=colour,
        linewidth=1.5,
        capsize=3,
        label=f"{family} ({', '.join(sources)} kbps)",
    )
    for point in members:
        ax.plot(point.kbps, point.mean, linestyle="none", marker=next(markers), color=colour)
        ax.annotate(
            point.tokenizer,
            (point.kbps, point.mean),
            textcoords="offset points",
            xytext=(5, 5),
            fontsize=7,
        )


def _decorate(ax: Axes, metric: dict[str, Any], points: list[_Point]) -> None:
    label = str(metric.get("label") or metric["name"])
    unit = metric.get("unit")
    direction = "higher" if metric.get("higher_is_better", True) else "lower"
    sources = sorted({p.kbps_source for p in points})
    ax.set_xscale("log")
    # Plain numbers ("6", "12", "0.4") on the ticks, minor ones too when few decades show:
    # a bitrate axis in 6×10⁰ notation is hard to read.
    for axis_formatter in (ax.xaxis.set_major_formatter, ax.xaxis.set_minor_formatter):
        axis_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.5)))
    _pad_single_decade(ax, points)
    ax.set_xlabel(f"bitrate, kbps (log scale; {' / '.join(sources)})")
    ax.set_ylabel(f"{label} ({unit})" if unit else label)
    ax.set_title(f"{label} against bitrate ({direction} is better; bars: 95 % CI)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="best")


def _pad_single_decade(ax: Axes, points: list[_Point]) -> None:
    """A log axis over a single bitrate collapses; give it a little room either side."""
    lowest, highest = min(p.kbps for p in points), max(p.kbps for p in points)
    if math.isclose(lowest, highest):
        ax.set_xlim(lowest / 1.5, highest * 1.5)


def _safe_name(metric: str) -> str:
    """A file-name-safe metric name: the metric names come from plug-ins, not from us."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", metric) or "metric"
