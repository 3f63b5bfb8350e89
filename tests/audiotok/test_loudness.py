"""BS.1770 loudness (audiotok.audio.loudness), its IIR sections and the numpy mel filterbank,
against the reference implementations they replace (scipy, pyloudnorm, librosa)."""

from __future__ import annotations

import numpy as np
import pyloudnorm
import pytest
import scipy.signal

from audiotok.audio.iir import biquad
from audiotok.audio.loudness import integrated_loudness, k_weighting
from audiotok.features.mel import mel_filterbank, slaney_mel_filters
from tests.signals import speech_like

SECTIONS = {
    # BS.1770's published 48 kHz K-weighting sections, and a section with a0 != 1.
    "shelf": (
        [1.53512485958697, -2.69169618940638, 1.19839281085285],
        [1.0, -1.69065929318241, 0.73248077421585],
    ),
    "high-pass": ([1.0, -2.0, 1.0], [1.0, -1.99004745483398, 0.99007225036621]),
    "scaled": ([0.2, 0.3, 0.1], [2.0, 0.5, 0.3]),
}


@pytest.mark.parametrize("length", [1, 2, 63, 64, 65, 1000, 48001])
@pytest.mark.parametrize("section", sorted(SECTIONS))
def test_biquad_equals_direct_recursion(length: int, section: str) -> None:
    b, a = SECTIONS[section]
    x = np.random.default_rng(length).standard_normal((2, length))
    ours = biquad(x, b, a)
    reference = scipy.signal.lfilter(b, a, x, axis=-1)
    assert ours.shape == x.shape
    np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-9 * np.abs(reference).max())


def test_biquad_rejects_an_unstable_section() -> None:
    with pytest.raises(ValueError, match="unstable"):
        biquad(np.ones(10), [1.0, 0.0, 0.0], [1.0, -2.0, 1.1])


def test_k_weighting_at_48k_is_the_standards() -> None:
    for (b, a), name in zip(k_weighting(48000), ["shelf", "high-pass"], strict=True):
        np.testing.assert_allclose(b, SECTIONS[name][0], rtol=0, atol=1e-10)
        np.testing.assert_allclose(a, SECTIONS[name][1], rtol=0, atol=1e-10)


def test_full_scale_997hz_sine_reads_minus_3_lkfs() -> None:
    # BS.1770: a 0 dBFS 997 Hz sine in one front channel reads -3.01 LKFS.
    rate = 48000
    t = np.arange(5 * rate) / rate
    assert integrated_loudness(np.sin(2 * np.pi * 997 * t), rate) == pytest.approx(-3.01, abs=0.01)


@pytest.mark.parametrize("rate", [16000, 22050, 48000])
@pytest.mark.parametrize("channels", [1, 2, 5])
def test_integrated_loudness_equals_pyloudnorm(rate: int, channels: int) -> None:
    rng = np.random.default_rng(channels)
    seconds = 2.37
    ramp = np.linspace(0.001, 0.3, int(seconds * rate))  # quiet start: the gates drop blocks
    samples = np.stack([speech_like(seconds, rate, seed=c) * ramp for c in range(channels)])
    samples += 1e-3 * rng.standard_normal(samples.shape)
    # pyloudnorm's "DeMan" class designs the same sections (its default differs by ~0.04 LU).
    meter = pyloudnorm.Meter(rate, filter_class="DeMan")
    reference = meter.integrated_loudness(samples.T.astype(np.float64))
    assert integrated_loudness(samples, rate) == pytest.approx(reference, abs=1e-6)


def test_integrated_loudness_of_silence_and_of_too_short_input() -> None:
    assert integrated_loudness(np.zeros(16000), 16000) == float("-inf")
    assert np.isnan(integrated_loudness(np.ones(100), 16000))
    with pytest.raises(ValueError, match="5 channels"):
        integrated_loudness(np.zeros((6, 16000)), 16000)


@pytest.mark.parametrize(
    ("rate", "n_fft", "n_mels", "fmin", "fmax"),
    [
        (16000, 400, 80, 0.0, None),
        (16000, 400, 128, 0.0, None),
        (22050, 1024, 80, 0.0, 8000.0),
        (44100, 2048, 128, 30.0, 16000.0),
        (16000, 512, 40, 0.0, None),
    ],
)
def test_mel_filterbank_equals_librosa(rate, n_fft, n_mels, fmin, fmax) -> None:
    import librosa

    reference = librosa.filters.mel(
        sr=rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=False, norm="slaney"
    )
    ours = mel_filterbank(rate, n_fft, n_mels, fmin, fmax).numpy()
    assert ours.shape == (n_mels, n_fft // 2 + 1) and ours.dtype == np.float32
    np.testing.assert_array_equal(ours, reference)  # bit-identical
    reference64 = librosa.filters.mel(
        sr=rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, dtype=np.float64
    )
    ours64 = slaney_mel_filters(rate, n_fft, n_mels, fmin, fmax, dtype=np.float64)
    np.testing.assert_array_equal(ours64, reference64)  # the metrics' float64 filters
