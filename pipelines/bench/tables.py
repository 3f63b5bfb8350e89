"""Summary tables of `audiotok bench`: one CSV row and one Markdown row per tokenizer.

The formatting helpers here (missing values, ``mean ± ci95`` cells, column lists) are shared
with the HTML report so that both show the same numbers the same way.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

# A dash, never 0: an encode-only tokenizer has no decode speed, which is not "zero speed".
MISSING = "—"

# Per-tokenizer facts about tokens and speed: (summary key, human heading), in display order.
TOKEN_COLUMNS: list[tuple[str, str]] = [
    ("nominal_kbps", "Nominal kbps"),
    ("measured_kbps", "Measured kbps"),
    ("entropy_kbps", "Entropy kbps"),
    ("tokens_per_second", "Tokens/s"),
    ("utilisation", "Codebook use"),
    ("encode_xrt", "Encode ×RT"),
    ("decode_xrt", "Decode ×RT"),
    ("encode_peak_mb", "Encode peak MB"),
    ("decode_peak_mb", "Decode peak MB"),
    ("n", "n"),
    ("errors", "Errors"),
]

# Corpus-level scores that every summary may carry; other corpus keys follow these.
CORPUS_KEYS = ["dwer", "dcer"]
CORPUS_HEADINGS = {"dwer": "dWER", "dcer": "dCER"}


def is_missing(value: Any) -> bool:
    """True for None and for NaN floats: both mean "nothing was measured"."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def optional_float(value: Any) -> float | None:
    """A number as a float, or None when it is missing (None or NaN)."""
    return None if is_missing(value) else float(value)


def format_number(value: Any) -> str:
    """A value for a human table: a dash when missing, fewer decimals for larger numbers."""
    if is_missing(value):
        return MISSING
    if isinstance(value, bool) or not isinstance(value, float):
        return str(value)  # counts (n, errors) and anything unexpected, as they are
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 0.01 or magnitude == 0:
        return f"{value:.2f}"
    return f"{value:.2g}"


def metric_result(tokenizer: dict[str, Any], metric: str) -> dict[str, Any] | None:
    """The ``{"mean", "ci95", "n"}`` entry of one metric, or None when it was not measured."""
    result = (tokenizer.get("metrics") or {}).get(metric)
    if not result or is_missing(result.get("mean")):
        return None
    return dict(result)


def format_mean_ci(result: dict[str, Any] | None) -> str:
    """``mean ± ci95`` for a table cell; just the mean when the interval is unknown."""
    if result is None:
        return MISSING
    mean = format_number(result.get("mean"))
    ci95 = result.get("ci95")
    if is_missing(ci95):
        return mean
    return f"{mean} ± {format_number(ci95)}"


def metric_heading(metric: dict[str, Any]) -> str:
    """Label, unit and an arrow saying which direction is better, e.g. ``SI-SDR (dB) ↑``."""
    label = str(metric.get("label") or metric["name"])
    unit = metric.get("unit")
    if unit:
        label = f"{label} ({unit})"
    arrow = "↑" if metric.get("higher_is_better", True) else "↓"
    return f"{label} {arrow}"


def corpus_keys(summary: dict[str, Any]) -> list[str]:
    """dWER and dCER first, then any other corpus-level keys in the order first seen."""
    return _ordered_union(CORPUS_KEYS, (t.get("corpus") or {} for t in summary["tokenizers"]))


def probe_keys(summary: dict[str, Any]) -> list[str]:
    """Probe names over all tokenizers, in the order first seen."""
    return _ordered_union([], (t.get("probe") or {} for t in summary["tokenizers"]))


def skipped_metrics(summary: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(tokenizer, metric, reason) for every metric a tokenizer skipped."""
    return [
        (str(tokenizer["tokenizer"]), str(metric), str(reason))
        for tokenizer in summary["tokenizers"]
        for metric, reason in (tokenizer.get("skipped") or {}).items()
    ]


def write_summary_csv(summary: dict[str, Any], path: Path | str) -> Path:
    """One row per tokenizer; an empty cell wherever a value is missing. Returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = _csv_columns(summary)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for tokenizer in summary["tokenizers"]:
            writer.writerow(_csv_row(summary, tokenizer))
    return path


def _csv_columns(summary: dict[str, Any]) -> list[str]:
    columns = ["tokenizer", "family", *(key for key, _ in TOKEN_COLUMNS)]
    for metric in summary["metrics"]:
        columns += [f"{metric['name']}_mean", f"{metric['name']}_ci95", f"{metric['name']}_n"]
    return columns + corpus_keys(summary) + probe_keys(summary)


def _csv_row(summary: dict[str, Any], tokenizer: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {
        "tokenizer": tokenizer["tokenizer"],
        "family": tokenizer.get("family"),
        **{key: tokenizer.get(key) for key, _ in TOKEN_COLUMNS},
    }
    for metric in summary["metrics"]:
        result = metric_result(tokenizer, metric["name"]) or {}
        for field in ("mean", "ci95", "n"):
            row[f"{metric['name']}_{field}"] = result.get(field)
    row.update({key: (tokenizer.get("corpus") or {}).get(key) for key in corpus_keys(summary)})
    row.update({key: (tokenizer.get("probe") or {}).get(key) for key in probe_keys(summary)})
    # Machine-readable: full precision, and an empty cell (not "—", not 0) when missing.
    return {key: "" if is_missing(value) else value for key, value in row.items()}


def write_summary_md(summary: dict[str, Any], path: Path | str) -> Path:
    """Token/speed table, metrics table (``mean ± ci95``), corpus and probe scores, skipped
    metrics with their reasons. Returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_markdown(summary), encoding="utf-8")
    return path


def _markdown(summary: dict[str, Any]) -> str:
    tokenizers = summary["tokenizers"]
    lines = [f"# {summary.get('title') or 'audiotok bench'}", ""]
    lines += [
        f"- data: {summary.get('data', MISSING)}",
        f"- utterances: {format_number(summary.get('n_utterances'))}",
        f"- device: {summary.get('device', MISSING)}",
        f"- created: {summary.get('created', MISSING)}",
        "",
        "## Tokens and speed",
        "",
    ]
    lines += _markdown_table(
        ["Tokenizer", "Family", *(heading for _, heading in TOKEN_COLUMNS)],
        [
            [t["tokenizer"], t.get("family"), *(format_number(t.get(k)) for k, _ in TOKEN_COLUMNS)]
            for t in tokenizers
        ],
        text_columns=2,
    )
    lines += ["", "## Metrics (mean ± 95 % CI)", ""]
    lines += _markdown_table(
        ["Tokenizer", *(metric_heading(m) for m in summary["metrics"])],
        [
            [
                t["tokenizer"],
                *(format_mean_ci(metric_result(t, m["name"])) for m in summary["metrics"]),
            ]
            for t in tokenizers
        ],
    )
    lines += _markdown_scores(summary)
    lines += ["", "## Skipped metrics", ""]
    skipped = skipped_metrics(summary)
    lines += [f"- {_md(name)}: {_md(metric)} — {_md(why)}" for name, metric, why in skipped]
    if not skipped:
        lines.append("None.")
    return "\n".join(lines) + "\n"


def _markdown_scores(summary: dict[str, Any]) -> list[str]:
    """Corpus-level dWER/dCER and probe accuracies, one table, only when any were measured."""
    corpus, probes = corpus_keys(summary), probe_keys(summary)
    rows = [
        [
            t["tokenizer"],
            *(format_number((t.get("corpus") or {}).get(k)) for k in corpus),
            *(format_number((t.get("probe") or {}).get(k)) for k in probes),
        ]
        for t in summary["tokenizers"]
    ]
    if all(cell == MISSING for row in rows for cell in row[1:]):
        return []
    headings = ["Tokenizer", *(CORPUS_HEADINGS.get(k, k) for k in corpus), *probes]
    return ["", "## Corpus-level scores and probes", "", *_markdown_table(headings, rows)]


def _markdown_table(headings: list[str], rows: list[list[Any]], text_columns: int = 1) -> list[str]:
    """A pipe table; the columns after the first ``text_columns`` hold numbers: right-aligned."""
    alignments = ["---"] * text_columns + ["---:"] * (len(headings) - text_columns)
    lines = ["| " + " | ".join(_md(h) for h in headings) + " |"]
    lines.append("|" + "|".join(alignments) + "|")
    lines += ["| " + " | ".join(_md(cell) for cell in row) + " |" for row in rows]
    return lines


def _md(value: Any) -> str:
    """A Markdown table cell: a pipe or a newline in a name must not break the table."""
    text = MISSING if is_missing(value) else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _ordered_union(first: list[str], mappings: Iterable[Mapping[str, Any]]) -> list[str]:
    keys = list(first)
    for mapping in mappings:
        keys += [str(key) for key in mapping if str(key) not in keys]
    return keys
