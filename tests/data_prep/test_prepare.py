"""End-to-end corpus preparation on real speech plus generated corrupt files."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import soundfile as sf

from audiotok.errors import AudioLoadError
from data_prep import PrepareConfig, committed_sources, prepare
from data_prep.shards import shard_paths
from tests.conftest import REPO_ROOT


def small_config(**sections: dict) -> PrepareConfig:
    """Fast settings for the FSDD digits (0.3-1 s utterances, some very quiet: loudness
    normalisation lets the VAD hear them): no ASR, mu-law tokens."""
    data = {
        "decode": {"loudness_lufs": -23.0},
        "segment": {"min_seconds": 0.2},
        "asr": {"enabled": False},
        "tokenize": {"specs": ["mulaw"]},
        "speaker": {"enabled": True},
        "shards": {"max_rows": 8},
        "ray": {"batch_files": 4},
    }
    for name, values in sections.items():
        data[name] = {**data.get(name, {}), **values}
    return PrepareConfig.from_dict(data)


def fsdd_files(shared: Path, count: int, min_seconds: float = 0.5) -> list[Path]:
    """``count`` FSDD recordings spread over digits and speakers, each at least
    ``min_seconds`` long (Silero hears no speech in some 0.2 s clips)."""
    folder = shared / "real" / "fsdd" / "recordings"
    names = sorted(os.listdir(folder))
    step = max(1, len(names) // (count * 2))
    chosen = []
    for name in names[::step]:
        if sf.info(str(folder / name)).duration >= min_seconds:
            chosen.append(folder / name)
        if len(chosen) == count:
            break
    return chosen


def corrupt_files(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    empty = folder / "empty.wav"
    empty.write_bytes(b"")
    truncated = folder / "truncated.wav"
    truncated.write_bytes((REPO_ROOT / "audiotok" / "assets" / "sample_en.flac").read_bytes()[:30])
    text = folder / "text.wav"
    text.write_text("this is a text file pretending to be a wav\n" * 50)
    return {"empty": empty, "truncated": truncated, "text": text}


def shard_rows(out: Path) -> list[dict]:
    return [row for shard in shard_paths(out) for row in pq.read_table(shard).to_pylist()]


def test_prepare_end_to_end_on_real_speech_and_corrupt_files(shared_data, tmp_path) -> None:
    multilingual = shared_data / "real" / "multilingual"
    fsdd = fsdd_files(shared_data, 20)
    bad = corrupt_files(tmp_path / "bad")
    out = tmp_path / "out"
    inputs = [*fsdd, multilingual / "transcripts.tsv", multilingual / "empty.wav", tmp_path / "bad"]
    report = prepare(inputs, out, small_config(), use_ray=False, progress=False)
    manifest = json.loads((out / "manifest.json").read_text())
    rows = shard_rows(out)

    # Every good file yields segments (kept, or dropped by a quality bound with its figure);
    # the silent one is dropped as a whole: no speech.
    dropped = [json.loads(x) for x in (out / "dropped.jsonl").read_text().splitlines()]
    segmented = {row["source_path"] for row in rows} | {
        d["path"] for d in dropped if d["segment"] is not None
    }
    good = [*fsdd, *(multilingual / f"test{s}.wav" for s in ["", "_de", "_es", "_fr", "_it"])]
    assert {str(p.resolve()) for p in good} <= {str(Path(p).resolve()) for p in segmented}
    assert len({row["source_path"] for row in rows}) >= len(good) - 3
    assert all(d["figure"] is not None for d in dropped if d["stage"] == "filter")
    assert any(
        d["path"].endswith("empty.wav") and d["reason"] == "no_speech" and d["segment"] is None
        for d in dropped
    )

    # Every corrupt file is an error with its reason; nothing else is.
    errors = [json.loads(x) for x in (out / "errors.jsonl").read_text().splitlines()]
    by_name = {Path(e["path"]).name: e for e in errors}
    assert set(by_name) == {p.name for p in bad.values()}
    assert by_name["empty.wav"]["reason"] == "empty_file"
    assert all(e["reason"] in AudioLoadError.REASONS and e["stage"] == "decode" for e in errors)

    # The manifest adds up, in files and in seconds.
    files, seconds = manifest["files"], manifest["seconds"]
    assert files["in"] == len(fsdd) + 9 + 3 == report.files_total
    assert files["in"] == files["kept"] + files["dropped"] + files["failed"]
    assert files["failed"] == 3 and files["dropped"] >= 1
    assert seconds["in"] == pytest.approx(seconds["kept"] + seconds["dropped"] + seconds["failed"])
    assert seconds["kept"] == pytest.approx(sum(r["duration"] for r in rows))
    assert manifest["segments"]["kept"] == len(rows)
    by_reason = sum(v["seconds"] for v in manifest["drop_reasons"].values())
    assert by_reason == pytest.approx(seconds["dropped"])
    assert sum(manifest["error_reasons"].values()) == 3
    assert manifest["config_hash"] == small_config().hash()
    assert manifest["retention"]["overall"] == pytest.approx(seconds["kept"] / seconds["in"])

    # Rows: ids unique, given transcripts kept for single-segment files, tokens and embeddings.
    assert len({r["id"] for r in rows}) == len(rows)
    english = next(r for r in rows if r["source_path"].endswith("multilingual/test.wav"))
    assert english["text"].startswith("Mr quilter") and english["text_source"] == "given"
    assert english["language"] == "en"
    assert all(len(r["speaker_embedding"]) == 256 for r in rows)
    assert all(r["tokens_mulaw"] and r["tokens_mulaw_frame_rate"] > 0 for r in rows)
    assert all(0.2 <= r["duration"] <= 30.0 for r in rows)

    # A rerun finds everything committed and changes nothing.
    again = prepare(inputs, out, small_config(), use_ray=False, progress=False)
    assert again.files_processed == 0 and len(shard_rows(out)) == len(rows)
    assert json.loads((out / "manifest.json").read_text())["seconds"] == seconds


def test_prepare_asr_cross_check_and_fill(shared_data, tmp_path) -> None:
    multilingual = shared_data / "real" / "multilingual"
    corpus = tmp_path / "in"
    corpus.mkdir()
    for name, copy in [
        ("test.wav", "test.wav"),
        ("test.wav", "untranscribed.wav"),
        ("test_de.wav", "test_de.wav"),
        ("test_de.wav", "claimed_en.wav"),
    ]:
        shutil.copy(multilingual / name, corpus / copy)
    given = "MR. QUILTER is the apostle of the middle classes, and we're glad to welcome his gospel"
    manifest = tmp_path / "manifest.tsv"
    manifest.write_text(
        "path\ttext\tlanguage\n"
        f"{corpus / 'test.wav'}\t{given}\t\n"
        f"{corpus / 'untranscribed.wav'}\t\t\n"
        f"{corpus / 'test_de.wav'}\t{given}\t\n"
        f"{corpus / 'claimed_en.wav'}\t{given}\ten\n"
    )
    config = small_config(asr={"enabled": True, "max_cer": 0.5}, speaker={"enabled": False})
    prepare([manifest], tmp_path / "out", config, use_ray=False, progress=False)
    rows = {Path(r["source_path"]).name: r for r in shard_rows(tmp_path / "out")}
    # A matching transcript (case and punctuation aside) passes, and shows the language.
    assert rows["test.wav"]["text_source"] == "given" and rows["test.wav"]["asr_cer"] < 0.5
    assert rows["test.wav"]["language"] == "en" and rows["test.wav"]["language_source"] == "asr"
    # Without one, ASR supplies it: its evidence accepts English speech.
    assert rows["untranscribed.wav"]["text_source"] == "asr"
    assert "apostle" in rows["untranscribed.wav"]["text"].lower()
    assert rows["untranscribed.wav"]["asr_avg_logprob"] > -0.7
    # German speech of unknown language: tiny.en cannot follow it, so its output can neither
    # confirm nor refute the given transcript, which is kept as given; no language is assumed.
    german = rows["test_de.wav"]
    assert german["text"] == given and german["text_source"] == "given"
    assert german["asr_cer"] is None and german["language"] is None
    assert german["asr_avg_logprob"] < -0.7
    # Said to be English: the cross-check applies and the wrong transcript is dropped.
    assert "claimed_en.wav" not in rows
    dropped = [
        json.loads(x) for x in (tmp_path / "out" / "dropped.jsonl").read_text().split("\n") if x
    ]
    cer = next(d for d in dropped if d["reason"] == "cer_too_high")
    assert cer["path"].endswith("claimed_en.wav") and cer["figure"] > 0.5 and cer["stage"] == "asr"


def _run_cli(files: list[Path], out: Path, config: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "pipelines.cli", "prepare", *map(str, files)]
    command += ["--out", str(out), "--config", str(config), "--no-ray"]
    return subprocess.Popen(
        command, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def test_kill_9_then_rerun_yields_every_segment_exactly_once(shared_data, tmp_path) -> None:
    files = fsdd_files(shared_data, 40)
    config = tmp_path / "config.json"
    settings = {
        "segment": {"min_seconds": 0.2},
        "asr": {"enabled": False},
        "speaker": {"enabled": False},
        "tokenize": {"specs": ["mulaw"]},
        "shards": {"max_rows": 4},
        "ray": {"batch_files": 2},
    }
    config.write_text(json.dumps(settings))
    out = tmp_path / "killed"
    process = _run_cli(files, out, config)
    deadline = time.monotonic() + 120
    while not (out / "shards" / "part-00000.parquet").exists():
        assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
        assert time.monotonic() < deadline, "no shard committed in time"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_at = len(committed_sources(out))
    assert killed_at < len(files), "the run finished before it could be killed"
    assert not (out / "manifest.json").exists()

    rerun = _run_cli(files, out, config)
    assert rerun.wait(timeout=300) == 0, rerun.stderr.read().decode() if rerun.stderr else ""
    ids = [row["id"] for row in shard_rows(out)]
    assert len(ids) == len(set(ids))
    assert not list(out.rglob("*.tmp"))
    manifest = json.loads((out / "manifest.json").read_text())
    assert [run["files_processed"] for run in manifest["runs"]] == [len(files) - killed_at]

    clean = tmp_path / "clean"
    prepare(files, clean, PrepareConfig.from_dict(settings), use_ray=False, progress=False)
    assert sorted(ids) == sorted(row["id"] for row in shard_rows(clean))
    assert len(committed_sources(out)) == len(files)


def test_one_worker_runs_in_process_as_the_plain_loop(shared_data, tmp_path, monkeypatch) -> None:
    import audiotok.units

    def no_ray(*args: object, **kwargs: object) -> None:
        raise AssertionError("a one-worker run started Ray")

    monkeypatch.setattr(audiotok.units, "init_local_ray", no_ray)
    files = fsdd_files(shared_data, 6)
    one = prepare(files, tmp_path / "one", small_config(), workers=1, progress=False)
    plain = prepare(files, tmp_path / "plain", small_config(), use_ray=False, progress=False)
    assert one.manifest["runs"][-1]["mode"] == "local"
    assert shard_rows(tmp_path / "one") == shard_rows(tmp_path / "plain")
    assert one.manifest["segments"] == plain.manifest["segments"]


def test_ray_is_used_from_two_workers_or_with_an_address() -> None:
    from audiotok.units import use_ray_for

    assert use_ray_for(2, None) and use_ray_for(1, "ray://head:10001")
    if "ray" not in sys.modules or not sys.modules["ray"].is_initialized():
        assert not use_ray_for(1, None)


def test_work_units_bound_files_and_bytes(tmp_path) -> None:
    from data_prep.discover import Source
    from data_prep.pipeline import work_units

    sizes = [100, 100, 100, 900, 100, 2000, 100]
    sources = []
    for index, size in enumerate(sizes):
        path = tmp_path / f"f{index}.wav"
        path.write_bytes(b"\0" * size)
        sources.append(Source(f"id{index}", str(path), path.name))
    sources.append(Source("gone", str(tmp_path / "missing.wav"), "missing.wav"))
    units = work_units(sources, max_files=3, max_bytes=1000)
    assert [[s.source_id for s in unit] for unit in units] == [
        ["id0", "id1", "id2"],  # three files: the file bound
        ["id3", "id4"],  # 900 + 100 bytes: the byte bound
        ["id5"],  # larger than the bound alone
        ["id6", "gone"],  # a missing file counts 0 bytes (decode records it)
    ]
