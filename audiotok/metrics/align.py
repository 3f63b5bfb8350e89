"""Bring a (reference, degraded) pair to one rate, compensate a codec's delay, trim to one length.

Codecs add a fixed delay (an encoder's look-ahead, a decoder's overlap-add priming), and
sample-level metrics (SI-SDR, spectral distances, STOI) collapse when the two signals are
shifted by even a few milliseconds.  `align_pair` estimates that delay once by cross-correlation
and returns two equal-length arrays that every metric in this package accepts.

The input checks shared by the metrics (`checked_wave`, `checked_pair`) live here too; every
failure is a `MetricError` naming the metric.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from audiotok.audio.resample import resample
from audiotok.errors import MetricError

MIN_ALIGNED_SECONDS = 0.1  # shorter pairs carry too little signal for any metric here
# A peak below this (-100 dBFS, under one 16-bit step) is digital silence: no metric is defined.
SILENCE_PEAK = 1e-5


@dataclass(frozen=True, eq=False)  # eq=False: == on arrays has no single truth value
class AlignedPair:
    """A delay-compensated pair at one rate.

    Attributes:
        reference: float32 ``[samples]``.
        degraded: float32 ``[samples]``, the same length as ``reference``.
        sample_rate: the rate of both, in Hz.
        delay_samples: the delay of the degraded input relative to the reference, in samples at
            ``sample_rate``, that was removed; positive when the degraded signal lagged.
    """

    reference: np.ndarray
    degraded: np.ndarray
    sample_rate: int
    delay_samples: int


def checked_wave(wave: np.ndarray, metric: str, what: str = "input") -> np.ndarray:
    """``wave`` as contiguous float32 ``[samples]``.

    Raises:
        MetricError: not 1-D, empty, or with NaN/infinite samples.
    """
    array = np.asarray(wave)
    if array.ndim != 1:
        raise MetricError(metric, f"{what} must be mono [samples], got shape {array.shape}")
    if array.size == 0:
        raise MetricError(metric, f"{what} is empty")
    array = np.ascontiguousarray(array, dtype=np.float32)
    if not np.isfinite(array).all():
        raise MetricError(metric, f"{what} has NaN or infinite samples")
    return array


def is_silent(wave: np.ndarray) -> bool:
    """True when the peak of ``[samples]`` is below `SILENCE_PEAK`."""
    return bool(np.max(np.abs(wave)) < SILENCE_PEAK)


def checked_pair(
    reference: np.ndarray, degraded: np.ndarray, metric: str, min_samples: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Both inputs checked by `checked_wave`, of equal length, and a non-silent reference.

    Raises:
        MetricError: a malformed input, unequal lengths, fewer than ``min_samples`` samples,
            or a silent reference (every metric here is relative to the reference).
    """
    ref = checked_wave(reference, metric, "reference")
    deg = checked_wave(degraded, metric, "degraded")
    if ref.size != deg.size:
        raise MetricError(
            metric,
            f"reference and degraded differ in length ({ref.size} vs {deg.size} samples); "
            "align them with align_pair first",
        )
    if ref.size < min_samples:
        raise MetricError(metric, f"too short: {ref.size} samples, needs at least {min_samples}")
    if is_silent(ref):
        raise MetricError(metric, "the reference is silent")
    return ref, deg


def estimate_delay(reference: np.ndarray, degraded: np.ndarray, max_lag: int) -> int:
    """The lag ``k`` in ``[-max_lag, max_lag]`` maximising ``sum_n ref[n] * deg[n + k]``.

    Positive ``k``: ``degraded`` lags ``reference`` by ``k`` samples.  Ties go to the smallest
    ``|k|`` (then the negative one), so silence or a constant correlation gives 0.

    Args:
        reference: ``[N]``.
        degraded: ``[M]``.
        max_lag: the largest delay searched, in samples (clipped to the signal lengths).
    """
    max_lag = min(max_lag, reference.size - 1, degraded.size - 1)
    if max_lag <= 0 or is_silent(reference) or is_silent(degraded):
        return 0
    from scipy import fft  # imported here: importing audiotok.metrics stays light

    ref = reference.astype(np.float64)
    deg = degraded.astype(np.float64)
    # zero padding to N + M - 1 makes the circular correlation linear for every lag
    size = fft.next_fast_len(ref.size + deg.size - 1, real=True)
    spectrum = np.conj(fft.rfft(ref, size)) * fft.rfft(deg, size)
    correlation = fft.irfft(spectrum, size)  # lag k at [k], lag -k at [size - k]
    magnitude = np.arange(max_lag + 1)
    # candidate order 0, -1, +1, -2, +2, ...: argmax keeps the first maximum
    lags = np.stack([-magnitude, magnitude], axis=1).ravel()[1:]
    return int(lags[np.argmax(correlation[lags % size])])


def align_pair(
    reference: np.ndarray,
    degraded: np.ndarray,
    reference_rate: int,
    degraded_rate: int,
    rate: int,
    max_delay_seconds: float = 0.1,
) -> AlignedPair:
    """Resample both inputs to ``rate``, remove the degraded input's delay, trim to one length.

    Deterministic: the delay is the integer lag (within ``±max_delay_seconds``) of the
    maximum of the cross-correlation, computed by FFT.

    Args:
        reference: float mono ``[samples]`` at ``reference_rate``.
        degraded: float mono ``[samples]`` at ``degraded_rate`` (e.g. a codec's output).
        reference_rate: Hz.
        degraded_rate: Hz.
        rate: the rate of the returned pair, Hz.
        max_delay_seconds: the largest delay searched, either way.

    Raises:
        MetricError: a malformed input (not 1-D, empty, NaN/inf), a non-positive rate, or a
            pair shorter than `MIN_ALIGNED_SECONDS` after alignment.
    """
    metric = "align_pair"
    for name, value in (
        ("reference_rate", reference_rate),
        ("degraded_rate", degraded_rate),
        ("rate", rate),
    ):
        if value <= 0:
            raise MetricError(metric, f"{name} must be positive, got {value}")
    if not max_delay_seconds >= 0:
        raise MetricError(metric, f"max_delay_seconds must be >= 0, got {max_delay_seconds}")
    ref = resample(checked_wave(reference, metric, "reference"), reference_rate, rate)
    deg = resample(checked_wave(degraded, metric, "degraded"), degraded_rate, rate)
    delay = estimate_delay(ref, deg, round(max_delay_seconds * rate))
    if delay > 0:
        deg = deg[delay:]
    elif delay < 0:
        ref = ref[-delay:]
    length = min(ref.size, deg.size)
    min_samples = round(MIN_ALIGNED_SECONDS * rate)
    if length < min_samples:
        raise MetricError(
            metric,
            f"too short after alignment: {length} samples at {rate} Hz "
            f"(delay {delay}), needs at least {MIN_ALIGNED_SECONDS} s",
        )
    return AlignedPair(
        reference=np.ascontiguousarray(ref[:length]),
        degraded=np.ascontiguousarray(deg[:length]),
        sample_rate=rate,
        delay_samples=delay,
    )
