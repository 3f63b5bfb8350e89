"""The output side of `audiotok bench`: statistics, CSV/Markdown tables, plots, HTML report."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import numpy as np
import pytest
import soundfile as sf

from pipelines.bench.html import write_report
from pipelines.bench.plots import bitrate_kbps, rate_distortion_plots
from pipelines.bench.stats import mean_ci95
from pipelines.bench.tables import write_summary_csv, write_summary_md
from tests.browser import dump_dom, find_browser, parse_page

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SAMPLE_RATE = 16000


def _tokenizer(spec: str, family: str, kbps: float, pesq: float, sdr: float) -> dict[str, Any]:
    return {
        "tokenizer": spec,
        "family": family,
        "can_decode": True,
        "nominal_kbps": kbps,
        "measured_kbps": kbps * 1.01,
        "entropy_kbps": None,
        "tokens_per_second": 50.0,
        "utilisation": None,
        "encode_xrt": 120.5,
        "decode_xrt": 300.1,
        "encode_peak_mb": 12.0,
        "decode_peak_mb": 10.0,
        "n": 2,
        "errors": 0,
        "metrics": {
            "pesq_wb": {"mean": pesq, "ci95": 0.2, "n": 2},
            "si_sdr": {"mean": sdr, "ci95": 1.5, "n": 2},
        },
        "skipped": {"utmos": "needs weights: none given"},
        "corpus": {"dwer": 0.12, "dcer": 0.05},
        "probe": {"digit_accuracy": 0.8},
    }


def _encode_only() -> dict[str, Any]:
    return {
        "tokenizer": "hubert<km>@500",  # markup characters: the report must escape them
        "family": "hubert",
        "can_decode": False,
        "nominal_kbps": None,
        "measured_kbps": None,
        "entropy_kbps": 0.41,
        "tokens_per_second": 50.0,
        "utilisation": 0.93,
        "encode_xrt": 40.0,
        "decode_xrt": None,
        "encode_peak_mb": 300.0,
        "decode_peak_mb": None,
        "n": 2,
        "errors": 0,
        "metrics": {},
        "skipped": {},
        "corpus": {},
        "probe": {"digit_accuracy": 0.95, "speaker_accuracy": 0.5},
    }


def _summary(root: Path | None = None) -> dict[str, Any]:
    """Two decodable opus tokenizers and one encode-only; example WAVs written under root."""
    decodable = [
        _tokenizer("opus@6kbps", "opus", 6.0, 2.1, 5.0),
        _tokenizer("opus@12kbps", "opus", 12.0, 3.4, 11.0),
    ]
    tokenizers = [*decodable, _encode_only()]
    tokenizers[1]["metrics"].pop("si_sdr")  # one metric missing for one tokenizer
    tokenizers[1]["corpus"] = {"dwer": None, "dcer": 0.02}
    examples: list[dict[str, Any]] = []
    for utterance in ("test_fr", "test en"):  # a space: the src must be URL-quoted
        folder = f"audio/{utterance}"
        decoded = {
            t["tokenizer"]: f"{folder}/{t['tokenizer'].replace('@', '_')}.wav" for t in decodable
        }
        examples.append(
            {"utterance": utterance, "original": f"{folder}/original.wav", "decoded": decoded}
        )
    if root is not None:
        for example in examples:
            for relative in [example["original"], *example["decoded"].values()]:
                _write_sine(root / relative)
    return {
        "title": "audiotok bench <test>",
        "created": "2026-11-29T12:00:00",
        "device": "cpu (2 threads)",
        "data": "/path/to/data",
        "n_utterances": 2,
        "metrics": [
            {"name": "pesq_wb", "label": "PESQ WB", "higher_is_better": True, "unit": ""},
            {"name": "si_sdr", "label": "SI-SDR", "higher_is_better": True, "unit": "dB"},
            {"name": "utmos", "label": "UTMOS", "higher_is_better": True, "unit": ""},
        ],
        "tokenizers": tokenizers,
        "examples": examples,
    }


def _write_sine(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(SAMPLE_RATE // 2) / SAMPLE_RATE
    sf.write(path, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), SAMPLE_RATE)


# --- statistics -------------------------------------------------------------------------


def test_mean_ci95_matches_a_hand_computation() -> None:
    mean, half_width, count = mean_ci95([1.0, 2.0, 3.0, 4.0])
    # t(0.975, 3) = 3.182446; sample std of 1..4 = 1.290994; sqrt(4) = 2.
    assert mean == pytest.approx(2.5)
    assert half_width == pytest.approx(3.182446 * 1.290994 / 2, rel=1e-6)
    assert count == 4


def test_mean_ci95_single_value_has_no_interval() -> None:
    assert mean_ci95([0.7]) == (pytest.approx(0.7), 0.0, 1)


def test_mean_ci95_ignores_nan_and_rejects_nothing() -> None:
    assert mean_ci95([1.0, math.nan, 2.0, 3.0, 4.0]) == pytest.approx(mean_ci95([1, 2, 3, 4]))
    assert mean_ci95([math.nan, 2.0, 4.0])[2] == 2
    with pytest.raises(ValueError):
        mean_ci95([])
    with pytest.raises(ValueError):
        mean_ci95([math.nan, math.nan])


# --- tables -----------------------------------------------------------------------------


def test_summary_csv_round_trips_and_leaves_missing_cells_empty(tmp_path: Path) -> None:
    path = write_summary_csv(_summary(), tmp_path / "out" / "summary.csv")
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        columns = list(reader.fieldnames or [])
        rows = {row["tokenizer"]: row for row in reader}

    assert columns[:13] == [
        "tokenizer", "family", "nominal_kbps", "measured_kbps", "entropy_kbps",
        "tokens_per_second", "utilisation", "encode_xrt", "decode_xrt", "encode_peak_mb",
        "decode_peak_mb", "n", "errors",
    ]  # fmt: skip
    assert columns[13:16] == ["pesq_wb_mean", "pesq_wb_ci95", "pesq_wb_n"]
    assert columns[-4:] == ["dwer", "dcer", "digit_accuracy", "speaker_accuracy"]
    assert list(rows) == ["opus@6kbps", "opus@12kbps", "hubert<km>@500"]

    opus6, opus12, encode_only = rows.values()
    assert float(opus6["measured_kbps"]) == pytest.approx(6.06)
    assert (opus6["pesq_wb_mean"], opus6["pesq_wb_ci95"], opus6["pesq_wb_n"]) == ("2.1", "0.2", "2")
    assert opus6["si_sdr_mean"] == "5.0" and opus6["dwer"] == "0.12"
    assert opus6["entropy_kbps"] == "" and opus6["speaker_accuracy"] == ""
    assert opus12["si_sdr_mean"] == opus12["si_sdr_ci95"] == opus12["si_sdr_n"] == ""
    assert opus12["dwer"] == "" and opus12["dcer"] == "0.02"
    assert opus12["utmos_mean"] == ""  # skipped metric: empty, not 0
    # Encode-only: no decode facts and no reconstruction metrics, but entropy and probes.
    assert encode_only["decode_xrt"] == encode_only["decode_peak_mb"] == ""
    assert encode_only["measured_kbps"] == encode_only["nominal_kbps"] == ""
    assert encode_only["pesq_wb_mean"] == encode_only["dwer"] == ""
    assert encode_only["entropy_kbps"] == "0.41" and encode_only["utilisation"] == "0.93"
    assert encode_only["speaker_accuracy"] == "0.5" and encode_only["n"] == "2"


def test_summary_markdown_shows_dashes_intervals_and_skipped_reasons(tmp_path: Path) -> None:
    text = write_summary_md(_summary(), tmp_path / "summary.md").read_text(encoding="utf-8")
    tables = [line for line in text.splitlines() if line.startswith("| ")]
    token_header = _md_cells(tables[0])
    encode_only = _md_cells(next(line for line in tables if line.startswith("| hubert")))
    assert encode_only[token_header.index("Decode ×RT")] == "—"
    assert encode_only[token_header.index("Entropy kbps")] == "0.41"

    metrics_row = _md_cells(next(line for line in tables if line.startswith("| opus@6kbps | 2.10")))
    assert metrics_row[1:] == ["2.10 ± 0.20", "5.00 ± 1.50", "—"]
    assert "| opus@12kbps | 3.40 ± 0.20 | — | — |" in text
    assert "| hubert<km>@500 | — | — | — |" in text
    assert "- opus@6kbps: utmos — needs weights: none given" in text
    # Missing is a dash, never 0: the only zero of the encode-only row is its error count.
    zeros = [token_header[i] for i, cell in enumerate(encode_only) if cell in ("0", "0.00")]
    assert zeros == ["Errors"]


def _md_cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


# --- plots ------------------------------------------------------------------------------


def test_rate_distortion_plots_one_png_per_metric_with_values(tmp_path: Path) -> None:
    plots = rate_distortion_plots(_summary(), tmp_path / "plots")
    # utmos was skipped everywhere and the encode-only tokenizer has no metrics: no plot.
    assert [p.name for p in plots] == ["rd_pesq_wb.png", "rd_si_sdr.png"]
    for plot in plots:
        assert plot.read_bytes()[:8] == PNG_SIGNATURE

    only_encode = {**_summary(), "tokenizers": [_encode_only()]}
    assert rate_distortion_plots(only_encode, tmp_path / "none") == []


def test_bitrate_prefers_measured_then_entropy_then_nominal() -> None:
    tokenizer = {"measured_kbps": 6.1, "entropy_kbps": 0.4, "nominal_kbps": 6.0}
    assert bitrate_kbps(tokenizer) == (6.1, "measured")
    assert bitrate_kbps({**tokenizer, "measured_kbps": None}) == (0.4, "entropy")
    assert bitrate_kbps({"nominal_kbps": 6.0, "entropy_kbps": math.nan}) == (6.0, "nominal")
    assert bitrate_kbps({"nominal_kbps": None}) is None


# --- HTML report ------------------------------------------------------------------------


def test_report_is_escaped_self_contained_and_has_one_player_per_recording(
    tmp_path: Path,
) -> None:
    summary = _summary(tmp_path)
    page = write_report(summary, rate_distortion_plots(summary, tmp_path / "plots"), tmp_path)
    text = page.read_text(encoding="utf-8")
    dom = parse_page(text)

    assert page == tmp_path / "report.html"
    assert dom.title == "audiotok bench <test>"
    assert "hubert&lt;km&gt;@500" in text and "<km>" not in text
    assert "http://" not in text and "https://" not in text  # nothing fetched from outside
    assert dom.images == ["plots/rd_pesq_wb.png", "plots/rd_si_sdr.png"]
    # 2 utterances x (original + 2 decodable tokenizers); the encode-only one has no player.
    assert len(dom.players) == 6
    assert all("controls" in p and p["preload"] == "metadata" for p in dom.players)
    assert "audio/test%20en/original.wav" in [p["src"] for p in dom.players]
    assert {p["aria-label"] for p in dom.players} == {"original", "opus@6kbps", "opus@12kbps"}
    for section in ("Token statistics", "Corpus-level dWER", "Probe accuracies", "Skipped"):
        assert section in text
    assert "needs weights: none given" in text and "2.10 ± 0.20" in text


def test_report_players_load_in_headless_chromium(tmp_path: Path) -> None:
    browser = find_browser()
    summary = _summary(tmp_path)
    plots = rate_distortion_plots(summary, tmp_path / "plots")
    page = write_report(summary, plots, tmp_path)

    dom = parse_page(dump_dom(browser, page, tmp_path / "profile"))

    assert dom.title == "audiotok bench <test>"
    expected_players = sum(1 + len(example["decoded"]) for example in summary["examples"])
    assert len(dom.players) == expected_players == 6
    for player in dom.players:
        assert (tmp_path / unquote(player["src"] or "")).is_file(), player["src"]
    assert dom.body["data-audio-failed"] == "0"
    assert dom.body["data-audio-loaded"] == str(expected_players)
    assert dom.body["data-images-loaded"] == str(len(plots)) == "2"


def test_report_detects_a_missing_audio_file_in_headless_chromium(tmp_path: Path) -> None:
    browser = find_browser()
    summary = _summary(tmp_path)
    summary["examples"][1]["decoded"]["opus@12kbps"] = "audio/gone/missing.wav"
    page = write_report(summary, [], tmp_path)

    dom = parse_page(dump_dom(browser, page, tmp_path / "profile"))

    assert len(dom.players) == 6
    assert dom.body["data-audio-failed"] == "1"
    assert dom.body["data-audio-loaded"] == "5"
