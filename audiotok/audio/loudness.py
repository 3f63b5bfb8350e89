"""Integrated loudness (ITU-R BS.1770-4): K-weighting, 400 ms blocks, absolute and relative gates.

The K-weighting filters are the standard's two sections (a +4 dB high shelf near 1.7 kHz, then
the RLB high pass near 38 Hz), designed for any sample rate from their analogue prototypes by
the bilinear transform: at 48 kHz this gives the coefficients printed in BS.1770 (tested), so
a full-scale 997 Hz sine reads -3.01 LKFS.
"""

from __future__ import annotations

import math

import numpy as np

from audiotok.audio.iir import biquad

BLOCK_SECONDS = 0.4
BLOCK_STEP = 0.25  # 75 % overlap between blocks
ABSOLUTE_GATE_LUFS = -70.0
RELATIVE_GATE_LU = -10.0
# Channel weights in the order L, R, C, Ls, Rs (BS.1770 has no weight for LFE).
CHANNEL_WEIGHTS = (1.0, 1.0, 1.0, 1.41, 1.41)
_OFFSET = -0.691


# Analogue prototypes of the two K-weighting sections, fitted to the 48 kHz coefficients of
# BS.1770 (the values libebur128 and pyloudnorm's "DeMan" filters use).
_SHELF_HZ, _SHELF_DB, _SHELF_Q = 1681.974450955533, 3.999843853973347, 0.7071752369554196
_SHELF_BAND_EXPONENT = 0.4996667741545416
_HIGH_PASS_HZ, _HIGH_PASS_Q = 38.13547087602444, 0.5003270373238773


def k_weighting(sample_rate: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """The two K-weighting sections ``[(b, a), (b, a)]`` for ``sample_rate`` (pre-filter shelf,
    then the RLB high pass), each normalised to ``a[0] == 1``."""
    return [_shelf(sample_rate), _high_pass(sample_rate)]


def _shelf(rate: float) -> tuple[np.ndarray, np.ndarray]:
    k = math.tan(math.pi * _SHELF_HZ / rate)
    high = 10 ** (_SHELF_DB / 20)
    band = high**_SHELF_BAND_EXPONENT
    norm = 1 + k / _SHELF_Q + k * k
    b = np.array([high + band * k / _SHELF_Q + k * k, 2 * (k * k - high),
                  high - band * k / _SHELF_Q + k * k]) / norm  # fmt: skip
    a = np.array([norm, 2 * (k * k - 1), 1 - k / _SHELF_Q + k * k]) / norm
    return b, a


def _high_pass(rate: float) -> tuple[np.ndarray, np.ndarray]:
    k = math.tan(math.pi * _HIGH_PASS_HZ / rate)
    norm = 1 + k / _HIGH_PASS_Q + k * k
    a = np.array([norm, 2 * (k * k - 1), 1 - k / _HIGH_PASS_Q + k * k]) / norm
    return np.array([1.0, -2.0, 1.0]), a


def block_energies(samples: np.ndarray, sample_rate: float) -> np.ndarray:
    """Mean square of the K-weighted signal in each gating block: ``[channels, n]`` -> ``[channels,
    blocks]`` (no blocks when shorter than one block)."""
    frames = samples.shape[-1]
    duration = frames / sample_rate
    count = round((duration - BLOCK_SECONDS) / (BLOCK_SECONDS * BLOCK_STEP)) + 1
    if duration < BLOCK_SECONDS or count < 1:
        return np.zeros((samples.shape[0], 0))
    weighted = samples
    for b, a in k_weighting(sample_rate):
        weighted = biquad(weighted, b, a)
    # Block j spans [0.4 s * j / 4, 0.4 s * (j / 4 + 1)), rounded down to samples.
    starts = [int(BLOCK_SECONDS * (j * BLOCK_STEP) * sample_rate) for j in range(count)]
    ends = [int(BLOCK_SECONDS * (j * BLOCK_STEP + 1) * sample_rate) for j in range(count)]
    ends = [min(frames, end) for end in ends]  # the last block may be cut short
    cumulative = np.zeros((weighted.shape[0], frames + 1))
    np.cumsum(weighted**2, axis=-1, out=cumulative[:, 1:])
    return (cumulative[:, ends] - cumulative[:, starts]) / (BLOCK_SECONDS * sample_rate)


def integrated_loudness(samples: np.ndarray, sample_rate: float) -> float:
    """Gated integrated loudness in LUFS of ``[n]`` or ``[channels <= 5, n]`` audio (channels in
    the order L, R, C, Ls, Rs); ``-inf`` when no block passes the gates (silence) and ``nan``
    when shorter than one 400 ms block."""
    samples = np.atleast_2d(np.asarray(samples, dtype=np.float64))
    channels = samples.shape[0]
    if channels > len(CHANNEL_WEIGHTS):
        raise ValueError(f"BS.1770 weights at most 5 channels, got {channels}")
    energies = block_energies(samples, sample_rate)
    if energies.shape[1] == 0:
        return float("nan")
    weights = np.asarray(CHANNEL_WEIGHTS[:channels])[:, None]
    weighted = (weights * energies).sum(axis=0)  # [blocks]
    with np.errstate(divide="ignore"):
        block_lufs = _OFFSET + 10 * np.log10(weighted)
    above_absolute = block_lufs >= ABSOLUTE_GATE_LUFS
    if not above_absolute.any():
        return float("-inf")
    relative_gate = _OFFSET + 10 * math.log10(weighted[above_absolute].mean()) + RELATIVE_GATE_LU
    gated = (block_lufs > relative_gate) & (block_lufs > ABSOLUTE_GATE_LUFS)
    if not gated.any():
        return float("-inf")
    return float(_OFFSET + 10 * math.log10(weighted[gated].mean()))
