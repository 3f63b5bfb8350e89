"""save_audio (atomic WAV/FLAC) and the downmix / peak / loudness normalisers."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pyloudnorm
import pytest

from audiotok.audio import (
    LoudnessClippingWarning,
    downmix,
    load_audio,
    loudness_normalize,
    peak_normalize,
    save_audio,
)
from tests.audiotok.audio_writers import tones


@pytest.mark.parametrize(
    ("name", "subtype", "atol"),
    [("x.wav", None, 1e-4), ("x.wav", "FLOAT", 0.0), ("x.flac", "PCM_24", 1e-6)],
)
def test_save_round_trip(tmp_path, name, subtype, atol):
    samples = tones(0.5, 22050, 2)
    save_audio(tmp_path / name, samples, 22050, subtype=subtype)
    audio = load_audio(tmp_path / name)
    assert audio.sample_rate == 22050
    np.testing.assert_allclose(audio.samples, samples, atol=atol)
    assert os.listdir(tmp_path) == [name]  # no temporary file left behind


def test_save_mono_vector(tmp_path):
    save_audio(tmp_path / "x.wav", tones(0.1, 8000, 1)[0], 8000)
    assert load_audio(tmp_path / "x.wav").samples.shape == (1, 800)


def test_failed_save_keeps_the_old_file(tmp_path):
    path = tmp_path / "x.wav"
    save_audio(path, tones(0.1, 8000, 1), 8000)
    before = path.read_bytes()
    bad = tones(0.1, 8000, 1)
    bad[0, 3] = np.nan
    with pytest.raises(ValueError):
        save_audio(path, bad, 8000)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["x.wav"]


@pytest.mark.parametrize(
    ("name", "shape"), [("x.mp3", (1, 10)), ("x.wav", (1000, 2)), ("x.wav", (2, 2, 2))]
)
def test_save_rejects_bad_requests(tmp_path, name, shape):
    with pytest.raises(ValueError):
        save_audio(tmp_path / name, np.zeros(shape, dtype=np.float32), 8000)


def test_downmix():
    stereo = np.array([[1.0, 0.0, -1.0], [0.0, 1.0, -1.0]], dtype=np.float32)
    np.testing.assert_allclose(downmix(stereo), [[0.5, 0.5, -1.0]])
    assert downmix(stereo[0]).shape == (1, 3)
    assert downmix(stereo).dtype == np.float32


def test_peak_normalize():
    samples = tones(0.1, 8000, 2, amplitude=0.2)
    samples[1] *= 0.5
    out = peak_normalize(samples)
    assert out.shape == samples.shape and out.dtype == np.float32
    assert np.max(np.abs(out)) == pytest.approx(0.95)
    np.testing.assert_allclose(out[1] / out[0].max(), samples[1] / samples[0].max(), atol=1e-6)
    silence = np.zeros((2, 100), dtype=np.float32)
    np.testing.assert_array_equal(peak_normalize(silence), silence)


@pytest.mark.parametrize("channels", [1, 2, 6])
def test_loudness_normalize_reaches_target(channels):
    rate = 16000
    samples = tones(3.0, rate, channels, amplitude=0.05)
    out = loudness_normalize(samples, rate, target_lufs=-23.0)
    assert out.shape == samples.shape and out.dtype == np.float32
    meter = pyloudnorm.Meter(rate, filter_class="DeMan")  # BS.1770's sections, any rate
    measured = meter.integrated_loudness(out[0] if channels == 1 else out[:2].T)
    if channels <= 2:
        assert measured == pytest.approx(-23.0, abs=0.01)
    ratio = out / np.where(samples == 0, 1, samples)
    assert np.allclose(ratio[samples != 0], ratio[samples != 0].flat[0], rtol=1e-4)  # one gain


def test_loudness_normalize_never_clips():
    rate = 16000
    samples = np.zeros((1, 3 * rate), dtype=np.float32)
    samples[0, ::400] = 0.5  # sparse clicks: quiet overall, but with high peaks
    with pytest.warns(LoudnessClippingWarning):
        out = loudness_normalize(samples, rate, target_lufs=-10.0)
    assert np.max(np.abs(out)) == pytest.approx(0.999, abs=1e-6)


@pytest.mark.parametrize(
    "samples",
    [np.zeros((1, 48000), dtype=np.float32), tones(0.2, 16000, 1)],
    ids=["silent", "too-short"],
)
def test_loudness_normalize_leaves_unmeasurable_input(samples):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = loudness_normalize(samples, 16000)
    np.testing.assert_array_equal(out, samples)
