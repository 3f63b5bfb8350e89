"""``audiotok tts`` and ``audiotok tts-convert``: the output contract (files and field names),
per-line errors, reruns that skip finished lines, streaming, and the random-weight smoke run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from pipelines.cli import main
from tests.models.cosyvoice2_dirs import SPEAKER, official_dir

SAMPLE = Path(__file__).resolve().parents[2] / "audiotok" / "assets" / "sample_en.flac"
FIELDS = {
    "id",
    "text",
    "path",
    "sample_rate",
    "duration_s",
    "text_tokens",
    "prompt_text_tokens",
    "prompt_speech_tokens",
    "speaker_embedding",
    "speech_tokens",
}
pytestmark = pytest.mark.filterwarnings("ignore:cosyvoice2. a debug RANDOMLY")


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return official_dir(tmp_path_factory.mktemp("tts") / "CosyVoice2-random")


@pytest.fixture(scope="module")
def voice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    wave, rate = sf.read(SAMPLE, dtype="float32")
    path = tmp_path_factory.mktemp("voice") / "prompt.wav"
    sf.write(path, wave[: 3 * rate], rate)
    return path


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_random_weights_smoke_run(tmp_path: Path) -> None:
    out = tmp_path / "o"
    assert main(["tts", "--random-weights", "--text", "hello", "--out", str(out)]) == 0
    (entry,) = _jsonl(out / "manifest.jsonl")
    audio, rate = sf.read(out / entry["path"])
    assert rate == 24000 == entry["sample_rate"]
    assert audio.size == pytest.approx(entry["duration_s"] * rate, abs=1)
    assert len(entry["speech_tokens"]) > 0 and len(entry["speaker_embedding"]) == 192
    summary = json.loads((out / "summary.json").read_text())
    assert summary["load_s"] > 0 and summary["synth_s"] > 0


def test_official_layout_contract(tmp_path: Path, model: Path, voice: Path) -> None:
    texts = tmp_path / "lines.tsv"
    texts.write_text("intro\tHello there.\nempty\t\nsecond\tSecond line.\n")
    out = tmp_path / "out"
    args = ["tts", "--model", str(model), "--text-file", str(texts), "--voice", str(voice)]
    args += ["--voice-text", "a short prompt", "--greedy", "--save-mel"]
    assert main([*args, "--out", str(out)]) == 0
    entries = _jsonl(out / "manifest.jsonl")
    assert [e["id"] for e in entries] == ["intro", "second"]
    for entry in entries:
        assert set(entry) >= FIELDS
        assert entry["path"] == f"{entry['id']}.wav" and (out / entry["path"]).is_file()
        mel = np.load(out / entry["mel"])
        prompt_mel = np.load(out / entry["prompt_mel"])
        assert mel.shape == (80, 2 * len(entry["speech_tokens"]))
        assert prompt_mel.shape == (80, 2 * len(entry["prompt_speech_tokens"]))
        assert entry["duration_s"] == pytest.approx(mel.shape[1] * 480 / 24000)
        speech = entry["speech_tokens"]
        assert all(0 <= t < 6561 for t in speech)
        assert 2 * len(entry["text_tokens"]) <= len(speech) <= 20 * len(entry["text_tokens"])
        assert entry["prompt_text_tokens"] and entry["prompt_speech_tokens"]
    assert entries[0]["prompt_speech_tokens"] == entries[1]["prompt_speech_tokens"]
    errors = _jsonl(out / "errors.jsonl")
    assert (
        errors == [{"id": "empty", "reason": "empty_text", "detail": errors[0]["detail"]}]
        and errors[0]["detail"]
    )
    summary = json.loads((out / "summary.json").read_text())
    assert {"load_s", "synth_s"} <= set(summary) and summary["lines_written"] == 2

    # greedy decoding is deterministic: a second run elsewhere gives the same tokens
    again = tmp_path / "again"
    assert main([*args, "--out", str(again)]) == 0
    assert [e["speech_tokens"] for e in _jsonl(again / "manifest.jsonl")] == [
        e["speech_tokens"] for e in entries
    ]


def test_rerun_skips_finished_lines_and_redoes_changed_ones(
    tmp_path: Path, model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    base = ["tts", "--model", str(model), "--out", str(out), "--speaker", SPEAKER, "--seed", "3"]
    assert main([*base, "--text", "one.", "--text", "two."]) == 0
    first = {e["id"]: e for e in _jsonl(out / "manifest.jsonl")}
    stamp = (out / "text-0001.wav").stat().st_mtime_ns
    capsys.readouterr()
    assert main([*base, "--text", "one.", "--text", "three."]) == 0
    assert "1 written, 1 already there" in capsys.readouterr().out
    second = {e["id"]: e for e in _jsonl(out / "manifest.jsonl")}
    assert (out / "text-0001.wav").stat().st_mtime_ns == stamp
    assert second["text-0001"] == first["text-0001"]
    assert second["text-0002"]["text"] == "three."
    summary = json.loads((out / "summary.json").read_text())
    assert summary["lines_skipped"] == 1 and summary["lines_written"] == 1


def test_a_bad_voice_fails_every_line_with_its_reason(tmp_path: Path, model: Path) -> None:
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(48000, np.float32), 16000)
    unreadable = tmp_path / "broken.wav"
    unreadable.write_bytes(b"not audio")
    for path, reason in ((silent, "voice_silent"), (unreadable, "voice_unreadable")):
        out = tmp_path / reason
        args = ["tts", "--model", str(model), "--voice", str(path), "--out", str(out)]
        assert main([*args, "--text", "a.", "--text", "b."]) == 1
        assert [e["reason"] for e in _jsonl(out / "errors.jsonl")] == [reason, reason]
        assert not list(out.glob("*.wav"))


def test_stream_writes_the_wav_and_reports_the_first_chunk(
    tmp_path: Path, model: Path, voice: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    text = "a line streamed in chunks."
    args = ["tts", "--model", str(model), "--voice", str(voice), "--voice-text", "a prompt"]
    assert main([*args, "--text", text, "--out", str(out), "--stream", "--seed", "1"]) == 0
    assert "first chunk after" in capsys.readouterr().out
    (entry,) = _jsonl(out / "manifest.jsonl")
    audio, _ = sf.read(out / entry["path"])
    assert audio.size == 960 * len(entry["speech_tokens"])
    assert not list(out.glob(".*partial*"))
    assert json.loads((out / "summary.json").read_text())["first_chunk_s"] > 0


def test_convert_both_ways(tmp_path: Path, model: Path) -> None:
    ours, back = tmp_path / "ours", tmp_path / "back"
    assert main(["tts-convert", str(model), "--out", str(ours)]) == 0
    assert (ours / "config.json").is_file() and (ours / "lm.safetensors").is_file()
    assert main(["tts-convert", str(ours), "--out", str(back), "--to", "official"]) == 0
    outputs = []
    for directory in (model, ours, back):
        out = tmp_path / f"speak-{directory.name}"
        args = ["tts", "--model", str(directory), "--text", "hi.", "--greedy", "--out", str(out)]
        assert main(args) == 0
        outputs.append(_jsonl(out / "manifest.jsonl")[0]["speech_tokens"])
    assert outputs[0] == outputs[1] == outputs[2]


def test_without_a_model_nothing_falls_back_to_random_weights(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["tts", "--text", "hi", "--out", str(tmp_path / "o")]) != 0
    assert "--random-weights" in capsys.readouterr().err
    assert main(["tts", "--model", str(tmp_path / "none"), "--text", "x", "--out", "o"]) != 0
    assert "no such directory" in capsys.readouterr().err
