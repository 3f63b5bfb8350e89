"""Sample-rate conversion: soxr (the VHQ preset by default), and a windowed-sinc resampler
that reproduces torchaudio's for front ends trained on it."""

from __future__ import annotations

import math

import numpy as np
import soxr
from numpy.lib.stride_tricks import sliding_window_view


def resample(
    samples: np.ndarray, orig_rate: int, target_rate: int, quality: str = "VHQ"
) -> np.ndarray:
    """Resample ``[samples]`` or ``[channels, samples]`` float32 audio.

    Returns float32 with the same layout; a no-op when the rates are equal.
    """
    if orig_rate <= 0 or target_rate <= 0:
        raise ValueError(f"sample rates must be positive, got {orig_rate} -> {target_rate}")
    samples = np.asarray(samples, dtype=np.float32)
    if orig_rate == target_rate:
        return samples
    if samples.ndim == 1:
        return soxr.resample(samples, orig_rate, target_rate, quality=quality).astype(np.float32)
    # soxr wants [samples, channels]
    out = soxr.resample(samples.T, orig_rate, target_rate, quality=quality)
    return np.ascontiguousarray(out.T, dtype=np.float32)


def sinc_resample(
    samples: np.ndarray,
    orig_rate: int,
    target_rate: int,
    lowpass_filter_width: int = 6,
    rolloff: float = 0.99,
) -> np.ndarray:
    """Band-limited (windowed-sinc) resampling of ``[samples]`` or ``[channels, samples]``.

    The algorithm of ``torchaudio.functional.resample`` with its defaults (Hann-windowed sinc,
    ``lowpass_filter_width`` zero crossings, cut-off at ``rolloff`` times the lower Nyquist),
    for models whose front ends were built on it: output sample ``j`` is the input's
    band-limited interpolation at time ``j / target_rate``, the signal taken as zero outside
    it. With rates reduced to ``up / down`` by their gcd there are ``up`` distinct filters,
    each used once per ``down`` input samples. The filters are rounded to float32 as the
    torchaudio ``Resample`` transform caches them; sums run in float64. The cost grows with
    ``up * down``: fine for 16/24/44.1/48 kHz pairs, not for near-equal odd rates (16000 ->
    16001 builds a 16001 x 32000 filter bank, as torchaudio does).

    Returns:
        float32 in the same layout with ``ceil(N * target_rate / orig_rate)`` samples.
    """
    if orig_rate <= 0 or target_rate <= 0:
        raise ValueError(f"sample rates must be positive, got {orig_rate} -> {target_rate}")
    if lowpass_filter_width <= 0 or not 0.0 < rolloff <= 1.0:
        raise ValueError(
            f"need lowpass_filter_width > 0 and 0 < rolloff <= 1, got "
            f"{lowpass_filter_width}, {rolloff}"
        )
    samples = np.asarray(samples, dtype=np.float32)
    if orig_rate == target_rate:
        return samples
    if samples.ndim == 1:
        return _sinc_resample_rows(
            samples[None], orig_rate, target_rate, lowpass_filter_width, rolloff
        )[0]
    return _sinc_resample_rows(samples, orig_rate, target_rate, lowpass_filter_width, rolloff)


def sinc_resample_filters(
    orig_rate: int, target_rate: int, lowpass_filter_width: int = 6, rolloff: float = 0.99
) -> tuple[np.ndarray, int]:
    """The ``up`` polyphase filters of `sinc_resample`: ``([up, 2 * width + down], width)``.

    Filter ``p`` gives output sample ``p`` of every group of ``up`` from input samples
    ``-width .. width + down - 1`` around the group's first input sample.
    """
    common = math.gcd(orig_rate, target_rate)
    down, up = orig_rate // common, target_rate // common
    cutoff = min(down, up) * rolloff  # in units of the reduced rates
    width = math.ceil(lowpass_filter_width * down / cutoff)
    offsets = np.arange(-width, width + down, dtype=np.float64) / down  # input times [K]
    times = offsets[None, :] - np.arange(up, dtype=np.float64)[:, None] / up  # [up, K]
    # time in units of the cut-off's half period: the sinc's zero crossings are integers
    crossings = np.clip(times * cutoff, -lowpass_filter_width, lowpass_filter_width)
    window = np.cos(crossings * np.pi / (2 * lowpass_filter_width)) ** 2
    filters = np.sinc(crossings) * window * (cutoff / down)
    return filters.astype(np.float32), width


def _sinc_resample_rows(
    rows: np.ndarray, orig_rate: int, target_rate: int, lowpass_filter_width: int, rolloff: float
) -> np.ndarray:
    """``[C, N]`` float32 -> ``[C, ceil(N * target / orig)]`` float32."""
    filters, width = sinc_resample_filters(orig_rate, target_rate, lowpass_filter_width, rolloff)
    up, taps = filters.shape
    down = taps - 2 * width
    channels, length = rows.shape
    out_length = -(-length * up // down)
    padded = np.pad(rows.astype(np.float64), ((0, 0), (width, width + down)))
    kernel = filters.astype(np.float64).T  # [K, up]
    groups = length // down + 1  # windows of K samples every ``down`` that fit in ``padded``
    out = np.empty((channels, groups * up), dtype=np.float32)
    for first in range(0, groups, _GROUPS_PER_BLOCK):  # bounded memory on long inputs
        last = min(groups, first + _GROUPS_PER_BLOCK)
        segment = padded[:, first * down : (last - 1) * down + taps]
        windows = sliding_window_view(segment, taps, axis=1)[:, ::down]  # [C, G, K]
        out[:, first * up : last * up] = (windows @ kernel).reshape(channels, -1)
    return out[:, :out_length]


_GROUPS_PER_BLOCK = 1 << 14
