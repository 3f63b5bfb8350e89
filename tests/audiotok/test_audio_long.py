"""Long files are read in chunks: bounded memory, and no artefacts at chunk boundaries."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import soundfile as sf

from audiotok.audio import _open, _pyav_backend, downmix, iter_audio_chunks, load_audio, resample
from tests.audiotok.audio_writers import tones, write_audio

LONG_MINUTES = 10
LONG_RATE = 48000
# What a naive loader would hold: the whole file as float32 stereo at 48 kHz (~230 MB).
FULL_BYTES = LONG_MINUTES * 60 * LONG_RATE * 2 * 4
CHUNK_SECONDS = 10.0
# One chunk of source audio as float32 stereo (3.8 MB): the unit the loader's overhead is in.
CHUNK_BYTES = int(CHUNK_SECONDS * LONG_RATE * 2 * 4)


@pytest.fixture(scope="module")
def long_wav(tmp_path_factory):
    """A 10-minute 48 kHz stereo 16-bit WAV, written 10 s at a time (never held whole)."""
    path = tmp_path_factory.mktemp("long") / "long.wav"
    block = tones(10.0, LONG_RATE, 2, amplitude=0.3).T  # 10 s of whole cycles: tiles seamlessly
    with sf.SoundFile(path, "w", LONG_RATE, 2, subtype="PCM_16") as output:
        for _ in range(LONG_MINUTES * 6):
            output.write(block)
    return path


def _peak_traced_bytes(function):
    tracemalloc.start()
    try:
        result = function()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _check_long_output(samples: np.ndarray) -> None:
    assert samples.shape == (1, LONG_MINUTES * 60 * 16000)
    # The mono mix is two sines of amplitude 0.15 each: RMS 0.15.
    rms = float(np.sqrt(np.mean(samples[0, 1000:200_000].astype(np.float64) ** 2)))
    assert rms == pytest.approx(0.3 / 2, rel=0.02)


def test_long_file_loads_in_bounded_memory(long_wav):
    audio, peak = _peak_traced_bytes(
        lambda: load_audio(long_wav, sample_rate=16000, mono=True, chunk_seconds=CHUNK_SECONDS)
    )
    _check_long_output(audio.samples)
    _check_peak(peak, audio.samples.nbytes)


def _check_peak(peak: int, output_bytes: int) -> None:
    """Memory is the 16 kHz mono output (1/6 of the full array) plus a few chunks at most."""
    message = f"peak {peak / 1e6:.0f} MB, output {output_bytes / 1e6:.0f} MB"
    assert peak < FULL_BYTES / 4, message
    assert peak - output_bytes < 3 * CHUNK_BYTES, message


def test_long_file_streams_without_holding_the_output(long_wav):
    def consume():
        frames = 0
        chunks = iter_audio_chunks(
            long_wav, sample_rate=16000, mono=True, chunk_seconds=CHUNK_SECONDS
        )
        for chunk in chunks:
            frames += chunk.shape[1]
        return frames

    frames, peak = _peak_traced_bytes(consume)
    assert frames == LONG_MINUTES * 60 * 16000
    # Nothing is accumulated: only a few chunks are ever alive.
    assert peak < 3 * CHUNK_BYTES


def test_long_file_through_pyav_is_bounded_too(long_wav, monkeypatch):
    # The FFmpeg path decodes frame by frame; force it by leaving libsndfile out.
    monkeypatch.setattr(_open, "_OPENERS", (_pyav_backend.open_source,))
    audio, peak = _peak_traced_bytes(
        lambda: load_audio(long_wav, sample_rate=16000, mono=True, chunk_seconds=CHUNK_SECONDS)
    )
    _check_long_output(audio.samples)
    _check_peak(peak, audio.samples.nbytes)


@pytest.mark.parametrize(("mono", "rate"), [(False, 16000), (True, 16000), (False, 22050)])
@pytest.mark.parametrize("chunk_seconds", [0.05, 0.37, 1.0])
def test_chunked_equals_one_shot(tmp_path, mono, rate, chunk_seconds):
    original = tones(3.0, 44100, 2) + 0.1 * np.random.default_rng(0).standard_normal(
        (2, 3 * 44100)
    ).astype(np.float32)
    path = write_audio(tmp_path / "x.wav", original, 44100, subtype="FLOAT")
    chunked = load_audio(path, sample_rate=rate, mono=mono, chunk_seconds=chunk_seconds)
    one_shot = resample(downmix(original) if mono else original, 44100, rate)
    assert chunked.samples.shape == one_shot.shape
    np.testing.assert_allclose(chunked.samples, one_shot, atol=1e-6)


def test_chunked_pyav_equals_one_shot(tmp_path, monkeypatch):
    original = tones(3.0, 44100, 2)
    path = write_audio(tmp_path / "x.wav", original, 44100, subtype="FLOAT")
    monkeypatch.setattr(_open, "_OPENERS", (_pyav_backend.open_source,))
    chunked = load_audio(path, sample_rate=16000, chunk_seconds=0.2)
    np.testing.assert_allclose(chunked.samples, resample(original, 44100, 16000), atol=1e-6)
