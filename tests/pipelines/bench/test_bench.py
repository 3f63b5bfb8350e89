"""`audiotok bench` end to end: outputs, ranking on real speech, resume, Ray, encode-only."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import numpy as np
import pytest
import soundfile as sf
import torch

from audiotok.errors import UnknownComponentError
from audiotok.metrics import get_metric
from audiotok.tokens import Tokens
from pipelines.bench.config import DEFAULT_TOKENIZERS, BenchConfig
from pipelines.bench.job import run_bench
from pipelines.bench.measure import Measured
from pipelines.bench.results import read_results
from pipelines.bench.summary import build_summary
from pipelines.cli import main
from tests.browser import dump_dom, find_browser, parse_page

SAMPLE = Path(__file__).resolve().parents[3] / "audiotok" / "assets" / "sample_en.flac"
CHEAP = ("si_sdr", "pesq_wb", "stoi")


def _metric_values(rows: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["utterance"], r["tokenizer"]): r["metrics"] for r in rows}


@pytest.fixture(scope="module")
def multilingual_run(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The default codec set on every file of the multilingual folder (cheap metrics)."""
    out = tmp_path_factory.mktemp("bench-multilingual")
    config = BenchConfig(metrics=CHEAP, examples=2)
    report = run_bench(
        [shared_data / "real" / "multilingual"], out, config, use_ray=False, progress=False
    )
    return report


def test_default_set_writes_every_output(multilingual_run: Any) -> None:
    out = multilingual_run.out_dir
    rows = read_results(out / "results.jsonl")
    assert len(rows) == 10 * len(DEFAULT_TOKENIZERS)
    assert {r["tokenizer"] for r in rows} == set(DEFAULT_TOKENIZERS)
    assert all(r["error"] is None for r in rows)
    with (out / "summary.csv").open() as handle:
        table = list(csv.DictReader(handle))
    assert [r["tokenizer"] for r in table] == list(DEFAULT_TOKENIZERS)
    assert all(float(r["pesq_wb_mean"]) > 1.0 for r in table)
    assert "± " in (out / "summary.md").read_text()
    assert sorted(p.name for p in (out / "plots").glob("*.png")) == [
        "rd_pesq_wb.png",
        "rd_si_sdr.png",
        "rd_stoi.png",
    ]
    assert multilingual_run.report_html == out / "report.html"
    for row in rows:
        assert (out / row["tokens_file"]).is_file()


def test_unscorable_audio_gets_a_reason_not_a_made_up_score(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    sf.write(data / "silence.wav", np.zeros(32000, dtype=np.float32), 16000)
    sf.write(data / "short.wav", 0.1 * np.random.default_rng(0).standard_normal(3200), 16000)
    config = BenchConfig(tokenizers=("mulaw",), metrics=("pesq_wb", "stoi"))
    run_bench([data], tmp_path / "out", config, use_ray=False, progress=False)
    rows = {r["utterance"]: r for r in read_results(tmp_path / "out" / "results.jsonl")}
    assert rows["silence"]["error"] is None and rows["short"]["error"] is None
    for name in ("silence", "short"):
        assert "pesq_wb" not in rows[name]["metrics"], rows[name]["metrics"]
        assert "stoi" not in rows[name]["metrics"], rows[name]["metrics"]
        assert rows[name]["skipped"]["pesq_wb"] and rows[name]["skipped"]["stoi"]
    assert "1/4 of a second" in rows["short"]["skipped"]["pesq_wb"]


def test_report_players_load_in_chromium(multilingual_run: Any, tmp_path: Path) -> None:
    browser = find_browser()
    out = multilingual_run.out_dir
    dom = parse_page(dump_dom(browser, out / "report.html", tmp_path / "profile"))
    # 2 example utterances: the original and every codec's reconstruction
    assert len(dom.players) == 2 * (1 + len(DEFAULT_TOKENIZERS))
    for player in dom.players:
        assert (out / unquote(player["src"] or "")).is_file()
    assert dom.body["data-audio-failed"] == "0"
    assert dom.body["data-audio-loaded"] == str(len(dom.players))
    assert dom.body["data-images-loaded"] == "3"


def test_opus_ladder_ranks_on_pesq_and_stoi(multilingual_run: Any) -> None:
    by_spec = {t["tokenizer"]: t for t in multilingual_run.summary["tokenizers"]}
    for metric in ("pesq_wb", "stoi"):
        means = [by_spec[f"opus@{k}kbps"]["metrics"][metric]["mean"] for k in (6, 12, 24)]
        assert means[0] < means[1] < means[2], (metric, means)


def test_rerun_reuses_finished_pairs_and_ray_gives_the_same_scores(tmp_path: Path) -> None:
    config = BenchConfig(tokenizers=("opus@12kbps", "mulaw"), metrics=("si_sdr", "stoi"))
    first = run_bench([SAMPLE], tmp_path / "a", config, use_ray=False, progress=False)
    assert (first.pairs_scored, first.pairs_reused) == (2, 0)
    results = tmp_path / "a" / "results.jsonl"
    lines = results.read_text().splitlines()
    # a crash: the last pair's line was torn half-way
    results.write_text(lines[0] + "\n" + lines[1][: len(lines[1]) // 2])
    again = run_bench([SAMPLE], tmp_path / "a", config, use_ray=False, progress=False)
    assert (again.pairs_scored, again.pairs_reused) == (1, 1)
    assert _metric_values(read_results(results)) == _metric_values(
        [json.loads(line) for line in lines]
    )

    on_ray = run_bench([SAMPLE], tmp_path / "b", config, use_ray=True, progress=False)
    assert on_ray.pairs_scored == 2
    ray_values = _metric_values(read_results(tmp_path / "b" / "results.jsonl"))
    local_values = _metric_values(read_results(results))
    assert ray_values.keys() == local_values.keys()
    for key, values in local_values.items():
        # equal up to the summation order of BLAS threads (one thread in an actor)
        assert ray_values[key] == pytest.approx(values, rel=1e-9), key


def test_one_worker_runs_in_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import audiotok.units

    def no_ray(*args: object, **kwargs: object) -> None:
        raise AssertionError("a one-worker run started Ray")

    monkeypatch.setattr(audiotok.units, "init_local_ray", no_ray)
    config = BenchConfig(tokenizers=("mulaw",), metrics=("si_sdr",), workers=1)
    report = run_bench([SAMPLE], tmp_path, config, progress=False)
    assert report.pairs_scored == 1 and report.summary["run"]["mode"] == "local"


def test_changed_settings_are_scored_again(tmp_path: Path) -> None:
    config = BenchConfig(tokenizers=("mulaw",), metrics=("si_sdr",))
    run_bench([SAMPLE], tmp_path, config, use_ray=False, progress=False)
    more = BenchConfig(tokenizers=("mulaw",), metrics=("si_sdr", "stoi"))
    report = run_bench([SAMPLE], tmp_path, more, use_ray=False, progress=False)
    assert (report.pairs_scored, report.pairs_reused) == (1, 0)
    assert set(read_results(tmp_path / "results.jsonl")[0]["metrics"]) == {"si_sdr", "stoi"}


def test_corrupt_input_is_recorded_and_the_rest_scored(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt ")
    (data / "good.flac").write_bytes(SAMPLE.read_bytes())
    config = BenchConfig(tokenizers=("mulaw",), metrics=("si_sdr",))
    report = run_bench([data], tmp_path / "out", config, use_ray=False, progress=False)
    rows = {r["utterance"]: r for r in read_results(tmp_path / "out" / "results.jsonl")}
    assert rows["broken"]["error"]["stage"] == "load"
    assert "broken.wav" in rows["broken"]["error"]["reason"]
    assert rows["good"]["error"] is None and rows["good"]["metrics"]["si_sdr"] > 10
    assert report.summary["tokenizers"][0]["errors"] == 1


def test_unavailable_and_unknown_metrics(tmp_path: Path) -> None:
    config = BenchConfig(tokenizers=("mulaw",), metrics=("si_sdr", "utmos"))
    report = run_bench([SAMPLE], tmp_path, config, use_ray=False, progress=False)
    skipped = report.summary["tokenizers"][0]["skipped"]
    assert "UTMOS" in skipped["utmos"] and "utmos" not in report.summary["tokenizers"][0]["metrics"]
    with pytest.raises(UnknownComponentError, match="pesq_wb"):
        get_metric("pesq-wb")


def test_encode_only_tokenizer_gets_token_statistics_and_the_probe(
    shared_data: Path, tmp_path: Path
) -> None:
    config = BenchConfig(
        tokenizers=("s3-v2", "opus@12kbps"),
        metrics=("si_sdr",),
        debug=True,  # a tiny random S3 model: the figures are exercised, not meaningful
        probe=str(shared_data / "real" / "fsdd" / "recordings"),
        probe_files=60,
    )
    report = run_bench([SAMPLE], tmp_path, config, use_ray=False, progress=False)
    s3, opus = report.summary["tokenizers"]
    assert s3["can_decode"] is False and s3["metrics"] == {} and s3["errors"] == 0
    assert s3["decode_xrt"] is None and s3["encode_xrt"] > 0
    assert 0 < s3["entropy_kbps"] <= s3["nominal_kbps"]
    assert 0 < s3["utilisation"] <= 1
    assert s3["measured_kbps"] is None and opus["measured_kbps"] > 11
    for row in (s3, opus):
        assert set(row["probe"]) >= {"digit_accuracy", "speaker_accuracy"}
        assert 0 <= row["probe"]["digit_accuracy"] <= 1
    # even a bag of Opus payload bytes tells the 6 speakers apart better than chance (1/6)
    assert opus["probe"]["speaker_accuracy"] > 0.25
    assert opus["probe"]["probe_files"] == 180  # at least 3 per (digit, speaker)


def test_entropy_bitrate_of_known_codes(tmp_path: Path) -> None:
    # one codebook of 8 codes, 4 used uniformly: 2 bits per frame at 50 frames/s -> 0.1 kbps
    codes = torch.tensor([[0, 1, 2, 3] * 25])
    tokens = Tokens(codes, 50.0, (8,), 16000, "fake", num_samples=32000)
    (tmp_path / "tokens").mkdir()
    tokens.save(tmp_path / "tokens" / "u.npz")
    row = {
        "utterance": "u",
        "tokenizer": "fake",
        "error": None,
        "bitstream": False,
        "tokens_file": "tokens/u.npz",
        "metrics": {},
        "skipped": {},
        "duration": 2.0,
    }
    config = BenchConfig(tokenizers=("fake",), metrics=("si_sdr",))
    summary = build_summary([row], config, tmp_path, data="x", n_utterances=1, device="cpu")
    assert summary["tokenizers"][0]["entropy_kbps"] == pytest.approx(0.1)
    assert summary["tokenizers"][0]["utilisation"] == pytest.approx(0.5)


def test_measured_peak_memory_sees_a_large_allocation() -> None:
    with Measured("cpu") as measured:
        block = np.ones(64 * 2**20 // 8)  # 64 MiB, touched
        block += 1
    assert measured.peak_mb > 48
    assert measured.seconds > 0


def test_cli_prints_where_the_report_is(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    arguments = ["--data", str(SAMPLE), "--out", str(tmp_path), "--tokenizers", "opus@12kbps"]
    code = main(["bench", *arguments, "--metrics", "si_sdr", "--no-ray"])
    assert code == 0
    printed = capsys.readouterr().out
    assert f"report: {(tmp_path / 'report.html').resolve()}" in printed
    assert "opus@12kbps" in printed


def test_units_group_short_utterances_but_spread_over_workers() -> None:
    from pipelines.bench.data import Utterance
    from pipelines.bench.run import PAIRS_PER_UNIT, _units

    specs = list(DEFAULT_TOKENIZERS)  # 8 pairs an utterance
    tasks = [(Utterance(f"u{i:03d}", "x"), specs, False) for i in range(100)]
    units = _units(tasks, workers=2)
    assert [t for unit in units for t in unit] == tasks  # all, once, in order
    assert all(sum(len(t[1]) for t in unit) <= PAIRS_PER_UNIT for unit in units)
    assert len(units) == 25
    few = _units(tasks[:10], workers=2)
    # a small run: units of ceil(10 / (4 units x 2 workers)) = 2 utterances, not one of 4
    assert [len(unit) for unit in few] == [2, 2, 2, 2, 2]


def test_dwer_is_corpus_level_and_skips_languages_the_asr_cannot(
    shared_data: Path, tmp_path: Path
) -> None:
    folder = shared_data / "real" / "multilingual"
    manifest = tmp_path / "two.tsv"
    manifest.write_text(
        f"file\tlanguage\n{folder / 'test.wav'}\ten\n{folder / 'test_fr.wav'}\tfr\n"
    )
    config = BenchConfig(tokenizers=("mulaw", "codec2@3200"), metrics=("dwer",))
    report = run_bench([manifest], tmp_path / "out", config, use_ray=False, progress=False)
    rows = read_results(tmp_path / "out" / "results.jsonl")
    french = [r for r in rows if r["utterance"] == "test_fr"]
    assert all("covers en only" in r["skipped"]["dwer"] for r in french)
    mulaw, codec2 = report.summary["tokenizers"]
    assert mulaw["corpus"]["n"] == codec2["corpus"]["n"] == 1  # the English file only
    # 64 kbps mu-law keeps the words better than 3.2 kbps Codec2
    assert mulaw["corpus"]["dwer"] <= codec2["corpus"]["dwer"]
    english = next(r for r in rows if r["utterance"] == "test" and r["tokenizer"] == "mulaw")
    assert "quilter" in english["metrics"]["asr_reference"].lower()
    # greedy decoding without sampling fall-back: a second run hears the same words
    again = run_bench([manifest], tmp_path / "again", config, use_ray=False, progress=False)
    assert [t["corpus"] for t in again.summary["tokenizers"]] == [mulaw["corpus"], codec2["corpus"]]


def test_utterance_ids_are_unique_and_each_file_counts_once(tmp_path: Path) -> None:
    from pipelines.bench.data import find_utterances

    for folder, seconds in (("a", 1.0), ("b", 2.0)):  # same name, other audio
        (tmp_path / folder).mkdir()
        sf.write(tmp_path / folder / "x.flac", np.zeros(int(16000 * seconds)), 16000)
    manifest = tmp_path / "list.tsv"
    manifest.write_text(f"path\tlanguage\n{tmp_path / 'a' / 'x.flac'}\ten\n")
    found = find_utterances([manifest, tmp_path / "a", tmp_path / "b" / "x.flac"])
    assert [Path(u.path).parent.name for u in found] == ["a", "b"]  # a/x.flac named twice
    assert found[0].id == "a__x" and found[1].id == "x"  # unique ids
    assert found[0].language == "en"  # the first mention (the manifest) gives the facts
