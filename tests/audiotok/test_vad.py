"""Voice activity detection: segment logic, registry, Silero on real speech."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from audiotok.audio import resample
from audiotok.errors import ComponentOptionError, UnknownComponentError, WeightsNotFoundError
from audiotok.quality import speech_ratio
from audiotok.vad import SileroVAD, SpeechSegment, get_vad, segments_from_probabilities

SPEECH_FILES = ["test.wav", "test_de.wav", "test_es.wav", "test_ja.wav", "test_ko.wav"]


def _segments(probs: list[float], **overrides: float) -> list[SpeechSegment]:
    options = dict(
        threshold=0.5, neg_threshold=0.35, min_speech_s=0.25, min_silence_s=0.1, speech_pad_s=0.0
    )
    options.update(overrides)
    return segments_from_probabilities(probs, 0.05, len(probs) * 0.05, **options)


def test_segments_hysteresis_min_speech_and_min_silence() -> None:
    # 0.5 s speech, a 0.1 s dip (= min_silence: ends it), a 0.1 s blip, silence
    probs = [0.0] * 4 + [0.9] * 10 + [0.1] * 3 + [0.9] * 2 + [0.0] * 5
    segs = _segments(probs)
    assert segs == [SpeechSegment(0.2, 0.7)]  # the 0.1 s blip is shorter than min_speech_s
    # a dip that stays above neg_threshold does not end speech
    probs = [0.9] * 10 + [0.4] * 6 + [0.9] * 10
    assert _segments(probs) == [SpeechSegment(0.0, 1.3)]


def test_segments_padding_meets_in_the_middle_and_clips() -> None:
    probs = [0.9] * 10 + [0.0] * 3 + [0.9] * 10
    segs = _segments(probs, speech_pad_s=0.2)
    assert segs[0].start == 0.0 and segs[-1].end == pytest.approx(1.15)
    assert segs[0].end == pytest.approx(segs[1].start)  # the 0.15 s gap is split, not overlapped
    assert segs[0].end == pytest.approx(0.575)


def test_registry_errors() -> None:
    with pytest.raises(UnknownComponentError, match="silero"):
        get_vad("webrtc")
    with pytest.raises(ComponentOptionError, match="threshold"):
        get_vad("silero", treshold=0.3)
    with pytest.raises(WeightsNotFoundError):
        get_vad("silero", model_path="/nonexistent/vad.onnx")


@pytest.fixture(scope="module")
def vad() -> SileroVAD:
    detector = get_vad("silero")
    assert isinstance(detector, SileroVAD)
    return detector


def test_thread_count_unchanged(vad: SileroVAD, speech_16k: np.ndarray) -> None:
    before = torch.get_num_threads()
    SileroVAD().speech_segments(speech_16k, 16000)
    vad.speech_probabilities(speech_16k, 16000)
    assert torch.get_num_threads() == before


def _energy_inside(wave: np.ndarray, sr: int, segs: list[SpeechSegment]) -> float:
    """Fraction of the signal energy that lies inside the segments."""
    inside = np.zeros(wave.size, dtype=bool)
    for seg in segs:
        inside[int(seg.start * sr) : int(seg.end * sr)] = True
    energy = wave.astype(np.float64) ** 2
    return float(energy[inside].sum() / energy.sum())


@pytest.mark.parametrize("name", SPEECH_FILES)
def test_segments_cover_speech(vad: SileroVAD, shared_data: Path, name: str) -> None:
    wave, sr = sf.read(shared_data / "real/multilingual" / name, dtype="float32")
    segs = vad.speech_segments(wave, sr)
    duration = wave.size / sr
    assert segs and all(0 <= s.start < s.end <= duration for s in segs)
    assert all(a.end <= b.start for a, b in itertools.pairwise(segs))
    assert _energy_inside(wave, sr, segs) > 0.9  # most of the energy is inside speech
    assert 0.4 < speech_ratio(segs, duration) < 0.98


def test_empty_file_has_no_speech(vad: SileroVAD, shared_data: Path) -> None:
    wave, sr = sf.read(shared_data / "real/multilingual/empty.wav", dtype="float32")
    segs = vad.speech_segments(wave, sr)
    assert sum(s.duration for s in segs) < 0.3


def test_other_sample_rate_gives_same_segments(vad: SileroVAD, shared_data: Path) -> None:
    wave, sr = sf.read(shared_data / "real/multilingual/test.wav", dtype="float32")
    ref = vad.speech_segments(wave, sr)
    other = vad.speech_segments(resample(wave, sr, 44100), 44100)
    assert len(other) == len(ref)
    for a, b in zip(ref, other, strict=True):
        assert abs(a.start - b.start) < 0.05 and abs(a.end - b.end) < 0.05


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_matches_silero_package(vad: SileroVAD, shared_data: Path) -> None:
    """Same segments as the package's own get_speech_timestamps (with its ONNX model)."""
    threads = torch.get_num_threads()
    try:
        from silero_vad import get_speech_timestamps, load_silero_vad  # sets 1 thread
    finally:
        torch.set_num_threads(threads)
    model = load_silero_vad(onnx=True)
    wave, sr = sf.read(shared_data / "real/multilingual/diarization_test.wav", dtype="float32")
    ref = get_speech_timestamps(
        torch.from_numpy(wave), model, return_seconds=True, time_resolution=3
    )
    ours = vad.speech_segments(wave, sr)
    assert len(ours) == len(ref) >= 3
    for seg, r in zip(ours, ref, strict=True):
        assert seg.start == pytest.approx(r["start"], abs=2e-3)
        assert seg.end == pytest.approx(r["end"], abs=2e-3)
