"""Input checks shared by the analysis components (VAD, ASR, speaker, quality)."""

from __future__ import annotations

import numpy as np

from audiotok.audio.resample import resample


def mono_float32(wave: np.ndarray, what: str) -> np.ndarray:
    """``wave`` as contiguous float32 ``[N]``; a ``[1, N]`` array is accepted as mono.

    Raises:
        ValueError: more than one channel, or NaN/inf samples.
    """
    array = np.asarray(wave, dtype=np.float32)
    if array.ndim == 2 and array.shape[0] == 1:
        array = array[0]
    if array.ndim != 1:
        raise ValueError(f"{what} expects mono audio [N], got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{what}: the waveform has NaN or infinite samples")
    return np.ascontiguousarray(array)


def mono_at_rate(wave: np.ndarray, sample_rate: int, target_rate: int, what: str) -> np.ndarray:
    """`mono_float32` then resampled (soxr) from ``sample_rate`` to ``target_rate``."""
    if sample_rate <= 0:
        raise ValueError(f"{what}: sample rate must be positive, got {sample_rate}")
    return resample(mono_float32(wave, what), sample_rate, target_rate)
