"""Perceptual quality and intelligibility: PESQ (ITU-T P.862) and STOI / ESTOI.

Thin wrappers of the ``pesq`` and ``pystoi`` packages that never return a made-up value: where a
package fails (no utterance detected, a buffer too short) or falls back to a placeholder
(pystoi's 1e-5 when too few frames remain), a `MetricError` naming the metric is raised with the
package's message, so a benchmark records the failure instead of averaging a fake score.
"""

from __future__ import annotations

import warnings

import numpy as np

from audiotok.audio.resample import resample
from audiotok.errors import MetricError
from audiotok.metrics.align import checked_pair, checked_wave, is_silent

PESQ_WB_RATE = 16_000  # P.862.2 wide-band is defined at 16 kHz
PESQ_NB_RATE = 8_000  # P.862 narrow-band, run at 8 kHz
# pystoi's warning when fewer than 30 frames remain after silent-frame removal
STOI_TOO_SHORT_WARNING = "Not enough STFT frames"


def pesq_wb(reference: np.ndarray, degraded: np.ndarray, rate: int) -> float:
    """Wide-band PESQ (MOS-LQO, about 1.0 to 4.64), both signals resampled to 16 kHz.

    PESQ aligns the signals itself, so their lengths may differ.

    Args:
        reference: float mono ``[samples]`` at ``rate``.
        degraded: float mono ``[samples]`` at ``rate``.
        rate: Hz.

    Raises:
        MetricError: a malformed input, a silent signal, or an error of the package (e.g. no
            utterances detected, shorter than 1/4 s).
    """
    return _pesq("pesq_wb", reference, degraded, rate, PESQ_WB_RATE, "wb")


def pesq_nb(reference: np.ndarray, degraded: np.ndarray, rate: int) -> float:
    """Narrow-band PESQ (MOS-LQO, about 1.0 to 4.55), both signals resampled to 8 kHz.

    Same arguments and errors as `pesq_wb`.
    """
    return _pesq("pesq_nb", reference, degraded, rate, PESQ_NB_RATE, "nb")


def stoi(reference: np.ndarray, degraded: np.ndarray, rate: int) -> float:
    """Short-time objective intelligibility (0 to 1) by pystoi, which resamples to 10 kHz.

    Args:
        reference: float mono ``[samples]`` at ``rate``.
        degraded: float mono ``[samples]`` at ``rate``, aligned with the reference.
        rate: Hz.

    Raises:
        MetricError: a malformed pair, a silent reference, or fewer than the 30 frames
            (384 samples at 10 kHz, half overlapping) STOI needs after silent-frame removal.
    """
    return _stoi("stoi", reference, degraded, rate, extended=False)


def estoi(reference: np.ndarray, degraded: np.ndarray, rate: int) -> float:
    """Extended STOI (Jensen & Taal 2016), robust to modulated noise; see `stoi`."""
    return _stoi("estoi", reference, degraded, rate, extended=True)


def _pesq(
    metric: str,
    reference: np.ndarray,
    degraded: np.ndarray,
    rate: int,
    pesq_rate: int,
    mode: str,
) -> float:
    import pesq  # imported here: importing audiotok.metrics stays light

    ref = checked_wave(reference, metric, "reference")
    deg = checked_wave(degraded, metric, "degraded")
    if rate <= 0:
        raise MetricError(metric, f"rate must be positive, got {rate}")
    # the package would divide by a zero peak and fail with an unrelated NaN error
    for what, wave in (("reference", ref), ("degraded", deg)):
        if is_silent(wave):
            raise MetricError(metric, f"the {what} signal is silent")
    ref, deg = resample(ref, rate, pesq_rate), resample(deg, rate, pesq_rate)
    try:
        score = pesq.pesq(pesq_rate, ref, deg, mode, on_error=pesq.PesqError.RAISE_EXCEPTION)
    except (pesq.PesqError, ValueError) as error:
        raise MetricError(metric, _package_message(error)) from error
    return float(score)


def _stoi(
    metric: str, reference: np.ndarray, degraded: np.ndarray, rate: int, extended: bool
) -> float:
    from pystoi import stoi as package_stoi  # imported here: it loads scipy.signal (~1 s)

    ref, deg = checked_pair(reference, degraded, metric)
    if rate <= 0:
        raise MetricError(metric, f"rate must be positive, got {rate}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        score = float(package_stoi(ref, deg, rate, extended=extended))
    too_short = False
    for warning in caught:
        if STOI_TOO_SHORT_WARNING in str(warning.message):
            too_short = True
        else:  # not ours to swallow
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )
    if too_short:
        raise MetricError(
            metric,
            "too short: fewer than 30 frames (384 samples at 10 kHz) remain after removing "
            f"frames 40 dB under the loudest (input {ref.size / rate:.2f} s); "
            "pystoi would return 1e-5",
        )
    return score


def _package_message(error: Exception) -> str:
    """The package's message; the pesq extension raises it as bytes (``b'...'``)."""
    detail = error.args[0] if error.args else type(error).__name__
    if isinstance(detail, bytes):
        detail = detail.decode(errors="replace")
    return f"{type(error).__name__}: {detail}"
