"""`sinc_resample` (torchaudio's windowed-sinc algorithm): lengths, its definition evaluated
directly, pass band, stop band, channels, blocks."""

from __future__ import annotations

import importlib
import math

import numpy as np
import pytest

from audiotok.audio.resample import sinc_resample, sinc_resample_filters


def direct_definition(
    x: np.ndarray, orig: int, new: int, zeros: int = 6, rolloff: float = 0.99
) -> np.ndarray:
    """``y[j] = sum_i x[i] h(i / orig - j / new)``: ``h`` a sinc cut at ``rolloff`` times the
    lower Nyquist, under a Hann window over ``zeros`` zero crossings each side (float64)."""
    cutoff = min(orig, new) * rolloff  # Hz
    length = math.ceil(x.size * new / orig)
    out = np.zeros(length)
    for j in range(length):
        crossings = (np.arange(x.size) / orig - j / new) * cutoff
        crossings = np.clip(crossings, -zeros, zeros)
        taps = np.sinc(crossings) * np.cos(np.pi * crossings / (2 * zeros)) ** 2 * cutoff / orig
        out[j] = taps @ x
    return out


@pytest.mark.parametrize("size", [1, 2, 3, 7, 100, 1001])
def test_length_is_ceil_of_the_ratio(size: int) -> None:
    wave = np.ones(size, np.float32)
    assert sinc_resample(wave, 16000, 24000).shape == (math.ceil(size * 3 / 2),)
    assert sinc_resample(wave, 44100, 16000).shape == (math.ceil(size * 160 / 441),)


@pytest.mark.parametrize(("orig", "new"), [(16000, 24000), (24000, 16000), (44100, 16000)])
def test_equals_the_direct_definition(orig: int, new: int) -> None:
    x = np.random.default_rng(0).standard_normal(600).astype(np.float32)
    ours = sinc_resample(x, orig, new)
    # the filters are rounded to float32, as torchaudio's Resample caches them
    np.testing.assert_allclose(ours, direct_definition(x.astype(np.float64), orig, new), atol=2e-6)


def test_filters_have_unit_dc_gain() -> None:
    filters, width = sinc_resample_filters(16000, 24000)
    assert filters.shape == (3, 2 * width + 2) and width == 7
    np.testing.assert_allclose(filters.sum(axis=1), 1.0, atol=1e-3)


def test_a_tone_in_the_pass_band_keeps_its_gain_and_phase() -> None:
    t = np.arange(48000) / 16000
    tone = np.sin(2 * np.pi * 1000 * t).astype(np.float32)
    out = sinc_resample(tone, 16000, 24000)
    expected = np.sin(2 * np.pi * 1000 * np.arange(out.size) / 24000)
    assert np.abs(out - expected)[1000:-1000].max() < 1e-3  # away from the zero-padded edges


def test_a_tone_above_the_new_nyquist_is_removed() -> None:
    t = np.arange(48000) / 24000
    tone = np.sin(2 * np.pi * 10000 * t).astype(np.float32)  # 10 kHz > 8 kHz
    out = sinc_resample(tone, 24000, 16000)[500:-500]
    level_db = 20 * np.log10(np.sqrt(np.mean(out**2)) / np.sqrt(0.5))
    assert level_db < -40


def test_shifting_by_a_period_shifts_the_output() -> None:
    # the reduced ratio is 3/2: two input samples later is three output samples later
    x = np.random.default_rng(1).standard_normal(500).astype(np.float32)
    shifted = np.concatenate([np.zeros(2, np.float32), x])
    np.testing.assert_allclose(
        sinc_resample(shifted, 16000, 24000)[3:], sinc_resample(x, 16000, 24000), atol=1e-6
    )


def test_channels_and_blocks_equal_one_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    x = np.random.default_rng(2).standard_normal((2, 3001)).astype(np.float32)
    whole = sinc_resample(x, 16000, 24000)
    assert whole.shape == (2, 4502) and whole.dtype == np.float32
    for channel in range(2):
        np.testing.assert_array_equal(whole[channel], sinc_resample(x[channel], 16000, 24000))
    # (``audiotok.audio.resample`` the attribute is the function of that name)
    module = importlib.import_module("audiotok.audio.resample")
    monkeypatch.setattr(module, "_GROUPS_PER_BLOCK", 7)
    np.testing.assert_allclose(sinc_resample(x, 16000, 24000), whole, atol=1e-7)


def test_same_rate_is_a_no_op_and_bad_arguments_fail() -> None:
    x = np.arange(5, dtype=np.float32)
    assert np.array_equal(sinc_resample(x, 16000, 16000), x)
    with pytest.raises(ValueError):
        sinc_resample(x, 0, 16000)
    with pytest.raises(ValueError):
        sinc_resample(x, 16000, 24000, lowpass_filter_width=0)
    with pytest.raises(ValueError):
        sinc_resample(x, 16000, 24000, rolloff=1.5)
