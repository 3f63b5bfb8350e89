"""`kaldi_fbank` against kaldi-native-fbank (Kaldi's own C++ numerics) with the same options:
speech, noise, short inputs, both edge modes, windows, energy; float input in [-1, 1]."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from audiotok.features.kaldi_fbank import KaldiFbankConfig, kaldi_fbank, kaldi_mel_banks

SAMPLE = Path(__file__).resolve().parents[2] / "audiotok" / "assets" / "sample_en.flac"
TOLERANCE = 1e-3  # log-energy units; the worst bins are near-silent ones (float32 in knf)
BINS = 80


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    wave, rate = sf.read(SAMPLE, dtype="float32")
    assert rate == 16000 and wave.ndim == 1
    return wave


def knf_fbank(wave: np.ndarray, config: KaldiFbankConfig) -> np.ndarray:
    """kaldi-native-fbank with the options of ``config`` (no dither)."""
    knf = pytest.importorskip("kaldi_native_fbank")
    options = knf.FbankOptions()
    frame = options.frame_opts
    frame.samp_freq = config.sample_rate
    frame.frame_length_ms = config.frame_length_ms
    frame.frame_shift_ms = config.frame_shift_ms
    frame.dither = 0.0
    frame.preemph_coeff = config.preemphasis
    frame.remove_dc_offset = config.remove_dc_offset
    frame.window_type = config.window_type
    frame.round_to_power_of_two = config.round_to_power_of_two
    frame.snip_edges = config.snip_edges
    options.mel_opts.num_bins = config.num_mel_bins
    options.mel_opts.low_freq = config.low_freq
    options.mel_opts.high_freq = config.high_freq
    options.use_energy = config.use_energy
    options.raw_energy = config.raw_energy
    options.energy_floor = config.energy_floor
    options.use_power = config.use_power
    computer = knf.OnlineFbank(options)
    computer.accept_waveform(config.sample_rate, wave.tolist())
    computer.input_finished()
    rows = [computer.get_frame(i) for i in range(computer.num_frames_ready)]
    width = config.num_mel_bins + int(config.use_energy)
    return np.asarray(rows, dtype=np.float32).reshape(-1, width)


def assert_matches_knf(wave: np.ndarray, config: KaldiFbankConfig) -> float:
    ours, theirs = kaldi_fbank(wave, config), knf_fbank(wave, config)
    assert ours.shape == theirs.shape == (config.num_frames(wave.size), theirs.shape[1])
    assert ours.dtype == np.float32
    diff = float(np.abs(ours - theirs).max()) if ours.size else 0.0
    assert diff <= TOLERANCE, diff
    return diff


@pytest.mark.parametrize("snip_edges", [True, False])
def test_speech_matches_kaldi(speech: np.ndarray, snip_edges: bool) -> None:
    config = KaldiFbankConfig(num_mel_bins=BINS, snip_edges=snip_edges)
    assert_matches_knf(speech, config)
    # with silence in front: frames on the log floor
    assert_matches_knf(np.concatenate([np.zeros(3000, np.float32), speech[:8000]]), config)


def test_noise_and_short_inputs_match_kaldi() -> None:
    rng = np.random.default_rng(0)
    config = KaldiFbankConfig(num_mel_bins=BINS)
    noise = (0.1 * rng.standard_normal(16000)).astype(np.float32)
    assert_matches_knf(noise, config)
    for size in (400, 450, 561):  # one window; just over; exactly two frames
        assert_matches_knf(noise[:size], config)
        assert_matches_knf(noise[:size], KaldiFbankConfig(num_mel_bins=BINS, snip_edges=False))
    assert kaldi_fbank(noise[:561], config).shape == (2, BINS)


def test_shorter_than_a_window_gives_no_frames() -> None:
    config = KaldiFbankConfig(num_mel_bins=BINS)
    assert kaldi_fbank(np.zeros(399, np.float32), config).shape == (0, BINS)
    assert kaldi_fbank(np.zeros(0, np.float32), config).shape == (0, BINS)
    # a signal shorter than a window, mirrored as often as needed (Kaldi's reflection)
    tiny = 0.3 * np.random.default_rng(0).standard_normal(20).astype(np.float32)
    assert_matches_knf(
        tiny, KaldiFbankConfig(num_mel_bins=BINS, snip_edges=False, frame_shift_ms=1)
    )


@pytest.mark.parametrize(
    "options",
    [
        {"window_type": "hamming"},
        {"window_type": "hanning"},
        {"window_type": "rectangular"},
        {"window_type": "blackman"},
        {"use_energy": True},
        {"use_energy": True, "raw_energy": False, "energy_floor": 0.0},
        {"round_to_power_of_two": False},
        {"low_freq": 100.0, "high_freq": -400.0, "preemphasis": 0.0, "remove_dc_offset": False},
        {"num_mel_bins": 23, "frame_length_ms": 20.0, "frame_shift_ms": 5.0},
    ],
)
def test_options_match_kaldi(speech: np.ndarray, options: dict[str, Any]) -> None:
    config = KaldiFbankConfig(**{"num_mel_bins": BINS, **options})
    assert_matches_knf(speech[:16000], config)


def test_magnitude_spectrum_matches_kaldi() -> None:
    # on noise: in the magnitude domain, near-silent bins of speech differ by float32 rounding
    # of Kaldi's own computation (a few 1e-3), not ours
    noise = (0.1 * np.random.default_rng(1).standard_normal(16000)).astype(np.float32)
    assert_matches_knf(noise, KaldiFbankConfig(num_mel_bins=BINS, use_power=False))


def test_scale_is_kept_as_given(speech: np.ndarray) -> None:
    # 16-bit scale shifts every log bin by 2 ln(32768) where the floor does not bite
    config = KaldiFbankConfig(num_mel_bins=BINS)
    loud = speech[4000:12000]
    shift = kaldi_fbank(loud * 32768, config) - kaldi_fbank(loud, config)
    floor = np.log(config.log_floor)
    unfloored = kaldi_fbank(loud, config) > floor + 1
    np.testing.assert_allclose(shift[unfloored], 2 * np.log(32768), atol=1e-3)


def test_mel_banks_shape_and_peaks() -> None:
    config = KaldiFbankConfig(num_mel_bins=BINS)
    banks = kaldi_mel_banks(config)
    assert banks.shape == (BINS, config.fft_size // 2 + 1) == (80, 257)
    assert np.all(banks[:, -1] == 0)  # Nyquist gets no weight
    assert np.all(banks.max(axis=1) <= 1.0) and np.all(banks.max(axis=1) > 0.4)


@pytest.mark.parametrize(
    "options",
    [
        {"window_type": "kaiser"},
        {"low_freq": 9000.0},
        {"high_freq": 9000.0},
        {"frame_length_ms": 0.05},
        {"num_mel_bins": 0},
    ],
)
def test_bad_options_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        KaldiFbankConfig(**options)


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="one waveform"):
        kaldi_fbank(np.zeros((2, 1000), np.float32))
    with pytest.raises(ValueError, match="NaN"):
        kaldi_fbank(np.full(1000, np.nan, np.float32))
