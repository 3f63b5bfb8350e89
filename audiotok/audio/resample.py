"""Sample-rate conversion with soxr (the VHQ preset by default)."""

from __future__ import annotations

import numpy as np
import soxr


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
