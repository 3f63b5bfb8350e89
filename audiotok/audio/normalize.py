"""Level and channel normalisation: downmix, peak and loudness (ITU-R BS.1770) normalisation."""

from __future__ import annotations

import warnings

import numpy as np

from audiotok.audio.loudness import CHANNEL_WEIGHTS, integrated_loudness

# The peak a loudness gain is scaled back to when it would clip: just under 0 dBFS, so that a
# later conversion to integer PCM cannot wrap.
_SAFE_PEAK = 0.999
# WAV/SMPTE 5.1 order is L R C LFE Ls Rs; BS.1770 ignores the LFE channel.
_LFE_INDEX_51 = 3


class LoudnessClippingWarning(UserWarning):
    """Reaching the loudness target would have clipped; the gain was lowered instead."""


def downmix(samples: np.ndarray) -> np.ndarray:
    """Average ``[channels, n]`` to ``[1, n]`` float32 (``[n]`` input is treated as mono)."""
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim == 1:
        return samples[np.newaxis, :]
    if samples.ndim != 2:
        raise ValueError(f"expected [channels, n] audio, got shape {samples.shape}")
    if samples.shape[0] == 1:
        return samples
    return samples.mean(axis=0, dtype=np.float32, keepdims=True)


def peak_normalize(samples: np.ndarray, peak: float = 0.95) -> np.ndarray:
    """Scale ``[n]`` or ``[channels, n]`` audio so its largest magnitude is ``peak``.

    One gain for all channels keeps their balance.  Silence is returned unchanged (as float32),
    since no gain can give it a peak.
    """
    if not peak > 0:  # also rejects NaN
        raise ValueError(f"peak must be positive, got {peak}")
    samples = np.asarray(samples, dtype=np.float32)
    current = float(np.max(np.abs(samples))) if samples.size else 0.0
    if current == 0.0:
        return samples.copy()
    return (samples * np.float32(peak / current)).astype(np.float32)


def loudness_normalize(
    samples: np.ndarray, sample_rate: int, target_lufs: float = -23.0
) -> np.ndarray:
    """Scale ``[n]`` or ``[channels, n]`` audio to ``target_lufs`` integrated loudness.

    Loudness is BS.1770 integrated loudness (`audiotok.audio.loudness`).  If the gain would
    push the peak over 0 dBFS, it is lowered so the peak is 0.999 and a
    ``LoudnessClippingWarning`` says so.  Input shorter than one 400 ms gating block, or silent
    (no block above the -70 LUFS gate), is returned unchanged.
    """
    samples = np.asarray(samples, dtype=np.float32)
    loudness = _integrated_loudness(samples, sample_rate)
    if loudness is None:
        return samples.copy()
    gain = 10.0 ** ((target_lufs - loudness) / 20.0)
    peak = float(np.max(np.abs(samples))) * gain
    if peak > 1.0:
        warnings.warn(
            f"reaching {target_lufs} LUFS from {loudness:.1f} LUFS would peak at "
            f"{20 * np.log10(peak):+.1f} dBFS; scaled to peak {_SAFE_PEAK} instead",
            LoudnessClippingWarning,
            stacklevel=2,
        )
        gain *= _SAFE_PEAK / peak
    return (samples * np.float32(gain)).astype(np.float32)


def _integrated_loudness(samples: np.ndarray, sample_rate: int) -> float | None:
    """Integrated loudness in LUFS, or None when it cannot be measured (too short, silent)."""
    loudness = integrated_loudness(_meter_layout(samples), sample_rate)
    return loudness if np.isfinite(loudness) else None


def _meter_layout(samples: np.ndarray) -> np.ndarray:
    """``[n]`` or ``[channels, n]`` as BS.1770 weighs them: ``[<=5, n]`` in the order L R C Ls
    Rs (5.1 loses its LFE channel; layouts with no BS.1770 weights are measured as a downmix)."""
    if samples.ndim == 1 or samples.shape[0] == 1:
        return samples.reshape(1, -1)
    if samples.shape[0] == 6:
        return np.delete(samples, _LFE_INDEX_51, axis=0)
    if samples.shape[0] > len(CHANNEL_WEIGHTS):
        return downmix(samples)
    return samples
