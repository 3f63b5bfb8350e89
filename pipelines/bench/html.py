"""The HTML listening report of `audiotok bench`: tables, plots and audio players on one page.

The page is self-contained (inline CSS and script, nothing fetched from the network); it only
refers, by relative paths, to the plots and WAV files written beside it, so the whole output
folder can be copied or served as it is.
"""

from __future__ import annotations

import os
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import quote

from pipelines.bench.tables import (
    CORPUS_HEADINGS,
    MISSING,
    TOKEN_COLUMNS,
    corpus_keys,
    format_mean_ci,
    format_number,
    metric_heading,
    metric_result,
    probe_keys,
    skipped_metrics,
)

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 80rem;
       padding: 0 1rem; color: #1d1d1f; line-height: 1.4; }
h1 { margin-bottom: .2rem; }
h2 { margin-top: 2.2rem; border-bottom: 1px solid #ddd; padding-bottom: .2rem; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; }
dl.facts dt { font-weight: 600; }
dl.facts dd { margin: 0; font-family: ui-monospace, monospace; }
table { border-collapse: collapse; margin: .5rem 0; font-size: .9rem; }
th, td { border: 1px solid #ddd; padding: .3rem .6rem; vertical-align: top; }
th { background: #f4f4f6; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.missing { color: #999; text-align: center; }
.plots { display: flex; flex-wrap: wrap; gap: 1rem; }
.plots img { max-width: 100%; width: 40rem; border: 1px solid #eee; }
figure.player { margin: 0; }
figure.player figcaption { font-size: .8rem; color: #555; }
audio { width: 16rem; }
p.note { color: #555; }
"""

# Counts, once the page has loaded, how many players found their file (metadata read) and how
# many failed, and how many images decoded. A headless browser test reads the counts from
# <body data-...>; a person can see them in the page footer.
_SCRIPT = """
(function () {
  "use strict";
  var body = document.body;
  var players = Array.prototype.slice.call(document.querySelectorAll("audio"));
  var images = Array.prototype.slice.call(document.querySelectorAll("img"));
  var audio = { loaded: 0, failed: 0 };
  var pictures = { loaded: 0, failed: 0 };

  function publish() {
    body.dataset.audioTotal = String(players.length);
    body.dataset.audioLoaded = String(audio.loaded);
    body.dataset.audioFailed = String(audio.failed);
    body.dataset.audioDone = String(audio.loaded + audio.failed === players.length);
    body.dataset.imagesTotal = String(images.length);
    body.dataset.imagesLoaded = String(pictures.loaded);
    body.dataset.imagesFailed = String(pictures.failed);
    var status = document.getElementById("load-status");
    if (status) {
      status.textContent = audio.loaded + " of " + players.length + " audio files loaded, " +
        audio.failed + " failed; " + pictures.loaded + " of " + images.length + " plots shown.";
    }
  }

  // Each element is counted once, whichever comes first: it may already be done (events
  // fired before this script ran) or finish later.
  function watch(element, isLoaded, isFailed, okEvent, counts) {
    var settled = false;
    function settle(ok) {
      if (settled) { return; }
      settled = true;
      if (ok) { counts.loaded += 1; } else { counts.failed += 1; }
      publish();
    }
    element.addEventListener(okEvent, function () { settle(isLoaded(element)); });
    element.addEventListener("error", function () { settle(false); });
    if (isLoaded(element)) { settle(true); } else if (isFailed(element)) { settle(false); }
  }

  players.forEach(function (player) {
    watch(player,
      function (p) { return p.readyState >= 1; },
      function (p) { return p.error !== null; },
      "loadedmetadata", audio);
  });
  images.forEach(function (image) {
    watch(image,
      function (i) { return i.complete && i.naturalWidth > 0; },
      function (i) { return i.complete && i.naturalWidth === 0; },
      "load", pictures);
  });
  publish();
  window.addEventListener("load", publish);
})();
"""


def write_report(summary: dict[str, Any], plots: list[Path], out_dir: Path | str) -> Path:
    """Write ``out_dir/report.html`` and return its path.

    ``plots`` are file paths as :func:`rate_distortion_plots` returns them (absolute or
    relative to the working directory); example audio paths in the summary are relative to
    ``out_dir``, as the page refers to them. Every text from the summary is HTML-escaped.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "report.html"
    path.write_text(_page(summary, plots, out_dir), encoding="utf-8")
    return path


def _page(summary: dict[str, Any], plots: list[Path], out_dir: Path) -> str:
    title = str(summary.get("title") or "audiotok bench")
    sections = [
        f"<h1>{_text(title)}</h1>",
        _facts(summary),
        _section("Token statistics and speed", _token_table(summary)),
        _section("Metrics (mean ± 95 % confidence interval)", _metrics_table(summary)),
        _section("Corpus-level dWER / dCER", _corpus_table(summary)),
        _section("Probe accuracies", _probe_table(summary)),
        _section("Skipped metrics", _skipped_table(summary)),
        _section("Rate–distortion plots", _plot_images(plots, out_dir)),
        _section("Examples", _examples_table(summary)),
        '<p class="note" id="load-status">Counting loaded audio files…</p>',
    ]
    body = "\n".join(sections)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_text(title)}</title>\n<style>{_CSS}</style>\n</head>\n"
        f"<body>\n{body}\n<script>{_SCRIPT}</script>\n</body>\n</html>\n"
    )


def _facts(summary: dict[str, Any]) -> str:
    facts = [
        ("Data", summary.get("data")),
        ("Utterances", summary.get("n_utterances")),
        ("Device", summary.get("device")),
        ("Created", summary.get("created")),
    ]
    items = "".join(
        f"<dt>{_text(name)}</dt><dd>{_text(format_number(value))}</dd>" for name, value in facts
    )
    return f'<dl class="facts">{items}</dl>'


def _section(heading: str, content: str) -> str:
    return f"<section>\n<h2>{_text(heading)}</h2>\n{content}\n</section>"


def _token_table(summary: dict[str, Any]) -> str:
    headings = ["Tokenizer", "Family", "Decodes", *(heading for _, heading in TOKEN_COLUMNS)]
    rows = [
        [
            _name_cell(t["tokenizer"]),
            _name_cell(t.get("family")),
            _name_cell("yes" if t.get("can_decode") else "no (encode only)"),
            *(_number_cell(format_number(t.get(key))) for key, _ in TOKEN_COLUMNS),
        ]
        for t in summary["tokenizers"]
    ]
    return _table(headings, rows)


def _metrics_table(summary: dict[str, Any]) -> str:
    metrics = summary["metrics"]
    if not metrics:
        return '<p class="note">No metrics were computed.</p>'
    rows = [
        [
            _name_cell(t["tokenizer"]),
            *(_metric_cell(metric_result(t, m["name"])) for m in metrics),
        ]
        for t in summary["tokenizers"]
    ]
    return _table(["Tokenizer", *(metric_heading(m) for m in metrics)], rows)


def _corpus_table(summary: dict[str, Any]) -> str:
    keys = corpus_keys(summary)
    rows = [
        [
            _name_cell(t["tokenizer"]),
            *(_number_cell(format_number((t.get("corpus") or {}).get(k))) for k in keys),
        ]
        for t in summary["tokenizers"]
    ]
    headings = ["Tokenizer", *(f"{CORPUS_HEADINGS.get(k, k)} ↓" for k in keys)]
    return _table(headings, rows)


def _probe_table(summary: dict[str, Any]) -> str:
    keys = probe_keys(summary)
    if not keys:
        return '<p class="note">No probes were run.</p>'
    rows = [
        [
            _name_cell(t["tokenizer"]),
            *(_number_cell(format_number((t.get("probe") or {}).get(k))) for k in keys),
        ]
        for t in summary["tokenizers"]
    ]
    return _table(["Tokenizer", *keys], rows)


def _skipped_table(summary: dict[str, Any]) -> str:
    skipped = skipped_metrics(summary)
    if not skipped:
        return '<p class="note">No metric was skipped.</p>'
    rows = [
        [_name_cell(name), _name_cell(metric), _name_cell(why)] for name, metric, why in skipped
    ]
    return _table(["Tokenizer", "Metric", "Reason"], rows)


def _plot_images(plots: list[Path], out_dir: Path) -> str:
    if not plots:
        return '<p class="note">No metric had values to plot.</p>'
    images = "\n".join(
        f'<img src="{_attr(_relative_url(plot, out_dir))}" '
        f'alt="{_attr("rate-distortion plot " + Path(plot).stem)}">'
        for plot in plots
    )
    return f'<div class="plots">\n{images}\n</div>'


def _examples_table(summary: dict[str, Any]) -> str:
    examples = summary.get("examples") or []
    if not examples:
        return '<p class="note">No example utterances were kept.</p>'
    columns = _example_columns(summary)
    rows = []
    for example in examples:
        decoded = example.get("decoded") or {}
        cells = [
            _name_cell(example.get("utterance")),
            _player_cell("original", example.get("original")),
            *(_player_cell(name, decoded.get(name)) for name in columns),
        ]
        rows.append(cells)
    return _table(["Utterance", "Original", *columns], rows)


def _example_columns(summary: dict[str, Any]) -> list[str]:
    """Decodable tokenizers in summary order, then any other name an example has audio for."""
    columns = [str(t["tokenizer"]) for t in summary["tokenizers"] if t.get("can_decode")]
    for example in summary.get("examples") or []:
        columns += [str(name) for name in example.get("decoded") or {} if name not in columns]
    return columns


def _player_cell(label: str, source: str | None) -> str:
    if not source:
        return _missing_cell()
    url = _attr(_audio_url(str(source)))
    return (
        f'<td><figure class="player"><figcaption>{_text(label)}</figcaption>'
        f'<audio controls preload="metadata" src="{url}" aria-label="{_attr(label)}">'
        "</audio></figure></td>"
    )


def _audio_url(source: str) -> str:
    """A path relative to the report as a URL (``#``, ``?``, ``%``, spaces quoted)."""
    if os.path.isabs(source):
        return Path(source).as_uri()  # not expected, but an absolute path still plays
    return quote(Path(source).as_posix(), safe="/")


def _relative_url(path: Path | str, out_dir: Path) -> str:
    """A plot's file path (as :func:`rate_distortion_plots` returns it) relative to the page."""
    relative = os.path.relpath(Path(path).resolve(), out_dir.resolve())
    return quote(Path(relative).as_posix(), safe="/")


def _table(headings: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{_text(h)}</th>" for h in headings)
    body = "\n".join(f"<tr>{''.join(cells)}</tr>" for cells in rows)
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"


def _name_cell(value: Any) -> str:
    return _missing_cell() if value is None else f"<td>{_text(str(value))}</td>"


def _number_cell(text: str) -> str:
    return _missing_cell() if text == MISSING else f'<td class="num">{_text(text)}</td>'


def _metric_cell(result: dict[str, Any] | None) -> str:
    if result is None:
        return _missing_cell()
    count = result.get("n")
    title = "" if count is None else f' title="n = {_attr(str(count))}"'
    return f'<td class="num"{title}>{_text(format_mean_ci(result))}</td>'


def _missing_cell() -> str:
    return f'<td class="missing">{MISSING}</td>'


def _text(value: str) -> str:
    return escape(value, quote=False)


def _attr(value: str) -> str:
    return escape(value, quote=True)
