"""Kaldi log-mel filterbank features in numpy (``compute-fbank-feats``).

The same numbers as ``torchaudio.compliance.kaldi.fbank`` with the same options (defaults
here are torchaudio's, with dither off), for models trained on those features (CAM++ and
other speaker verification models, WeNet-style ASR) where torchaudio is not installed.

Per frame: cut ``frame_length_ms`` of samples every ``frame_shift_ms``, remove the frame's DC
offset, pre-emphasise, window, zero-pad to a power of two, take the power spectrum, apply
triangular filters equally spaced on Kaldi's mel scale (``1127 ln(1 + f / 700)``) and take the
log with a float32-epsilon floor. The input scale is kept as given: Kaldi tools feed 16-bit
sample values, PyTorch front ends often feed floats in [-1, 1]; the two differ by a constant
``2 * ln(32768)`` per bin, except where the floor bites.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

WINDOW_TYPES = ("povey", "hanning", "hamming", "rectangular", "blackman")
FLOAT32_EPS = float(np.finfo(np.float32).eps)  # Kaldi's and torchaudio's log floor

# Kaldi's mel scale: mel(f) = MEL_SCALE * ln(1 + f / MEL_BREAK_HZ).
_MEL_SCALE = 1127.0
_MEL_BREAK_HZ = 700.0


@dataclass(frozen=True)
class KaldiFbankConfig:
    """Options of a Kaldi filterbank, named as in Kaldi (and torchaudio).

    Attributes:
        sample_rate: input rate in Hz.
        frame_length_ms, frame_shift_ms: analysis window and hop.
        num_mel_bins: filters ``M``.
        low_freq: lower edge of the first filter, Hz.
        high_freq: upper edge of the last filter, Hz; ``<= 0`` counts down from Nyquist.
        preemphasis: coefficient of ``x[i] - c * x[i - 1]`` (the first sample is its own
            predecessor).
        remove_dc_offset: subtract each frame's mean before everything else.
        window_type: one of `WINDOW_TYPES` (``povey`` is a Hann window to the power 0.85).
        blackman_coeff: the ``a0`` of the Blackman window.
        round_to_power_of_two: zero-pad frames to the next power of two for the FFT.
        snip_edges: only frames that fit in the signal (else frames centred on every
            ``shift``, the signal mirrored at both ends).
        use_power: power spectrum (else magnitude).
        use_log_fbank: natural log of the filter energies, floored at `log_floor`.
        log_floor: the floor of the log (float32 epsilon in Kaldi).
        use_energy: add the frame's log energy as a first column (``M + 1`` columns).
        raw_energy: measure that energy before pre-emphasis and windowing.
        energy_floor: floor of the energy (``0`` for none).
    """

    sample_rate: int = 16000
    frame_length_ms: float = 25.0
    frame_shift_ms: float = 10.0
    num_mel_bins: int = 23
    low_freq: float = 20.0
    high_freq: float = 0.0
    preemphasis: float = 0.97
    remove_dc_offset: bool = True
    window_type: str = "povey"
    blackman_coeff: float = 0.42
    round_to_power_of_two: bool = True
    snip_edges: bool = True
    use_power: bool = True
    use_log_fbank: bool = True
    log_floor: float = FLOAT32_EPS
    use_energy: bool = False
    raw_energy: bool = True
    energy_floor: float = 1.0

    def __post_init__(self) -> None:
        if self.window_type not in WINDOW_TYPES:
            raise ValueError(
                f"window_type {self.window_type!r}; expected one of {', '.join(WINDOW_TYPES)}"
            )
        if self.window_size < 2 or self.window_shift < 1:
            raise ValueError(
                f"a {self.frame_length_ms} ms window every {self.frame_shift_ms} ms is under "
                f"2 samples (or a 0-sample shift) at {self.sample_rate} Hz"
            )
        high = self.upper_edge_hz
        if not 0.0 <= self.low_freq < high <= self.sample_rate / 2:
            raise ValueError(
                f"need 0 <= low_freq < high_freq <= Nyquist, got {self.low_freq} .. {high} Hz"
            )
        if self.num_mel_bins < 1:
            raise ValueError(f"num_mel_bins must be positive, got {self.num_mel_bins}")

    @property
    def window_size(self) -> int:
        """Samples per frame (truncated as Kaldi does)."""
        return int(self.sample_rate * self.frame_length_ms / 1000)

    @property
    def window_shift(self) -> int:
        """Samples between frame starts."""
        return int(self.sample_rate * self.frame_shift_ms / 1000)

    @property
    def fft_size(self) -> int:
        if not self.round_to_power_of_two:
            return self.window_size
        return 1 << (self.window_size - 1).bit_length()

    @property
    def upper_edge_hz(self) -> float:
        return self.high_freq if self.high_freq > 0 else self.sample_rate / 2 + self.high_freq

    @property
    def frame_rate(self) -> float:
        return self.sample_rate / self.window_shift

    def num_frames(self, num_samples: int) -> int:
        """Frames of a signal of ``num_samples`` samples."""
        if self.snip_edges:
            if num_samples < self.window_size:
                return 0
            return 1 + (num_samples - self.window_size) // self.window_shift
        return (num_samples + self.window_shift // 2) // self.window_shift


def kaldi_fbank(wave: np.ndarray, config: KaldiFbankConfig | None = None) -> np.ndarray:
    """Kaldi filterbank features of one waveform.

    Args:
        wave: ``[N]`` float samples at ``config.sample_rate`` (any scale: see the module
            docstring).
        config: the options (torchaudio's defaults, 23 bins, without one).

    Returns:
        float32 ``[frames, M]`` (``[frames, M + 1]`` with ``use_energy``); ``frames`` is
        ``config.num_frames(N)``, possibly 0.

    Raises:
        ValueError: ``wave`` is not one-dimensional or holds non-finite values.
    """
    config = config or KaldiFbankConfig()
    samples = np.asarray(wave, dtype=np.float64)
    if samples.ndim != 1:
        raise ValueError(f"kaldi_fbank takes one waveform [N], got shape {samples.shape}")
    if not np.isfinite(samples).all():
        raise ValueError("kaldi_fbank: the waveform holds NaN or infinite samples")
    width = config.num_mel_bins + int(config.use_energy)
    frames = _frames(samples, config)  # [F, L]
    if frames.shape[0] == 0:
        return np.zeros((0, width), dtype=np.float32)
    if config.remove_dc_offset:
        frames = frames - frames.mean(axis=1, keepdims=True)
    energy = _log_energy(frames, config) if config.raw_energy else None
    if config.preemphasis != 0.0:
        previous = np.concatenate([frames[:, :1], frames[:, :-1]], axis=1)
        frames = frames - config.preemphasis * previous
    frames = frames * _window(config.window_type, config.window_size, config.blackman_coeff)
    if energy is None:
        energy = _log_energy(frames, config)
    spectrum = np.abs(np.fft.rfft(frames, n=config.fft_size, axis=1))  # [F, fft / 2 + 1]
    if config.use_power:
        spectrum = spectrum**2
    features = spectrum @ kaldi_mel_banks(config).T  # [F, M]
    if config.use_log_fbank:
        features = np.log(np.maximum(features, config.log_floor))
    if config.use_energy:
        features = np.concatenate([energy[:, None], features], axis=1)
    return features.astype(np.float32)


def kaldi_mel_banks(config: KaldiFbankConfig) -> np.ndarray:
    """Triangular filters ``[M, fft_size // 2 + 1]`` float64, equally spaced on Kaldi's mel
    scale between ``low_freq`` and the upper edge, peak 1, no area normalisation; the
    Nyquist bin gets no weight (as in Kaldi)."""
    return _mel_banks(
        config.num_mel_bins,
        config.fft_size,
        config.sample_rate,
        config.low_freq,
        config.upper_edge_hz,
    )


@lru_cache(maxsize=16)
def _mel_banks(
    num_bins: int, fft_size: int, sample_rate: int, low_hz: float, high_hz: float
) -> np.ndarray:
    edges = np.linspace(_mel(low_hz), _mel(high_hz), num_bins + 2)  # [M + 2]
    left, centre, right = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    # Kaldi weighs the bins below Nyquist only (``fft_size / 2`` of them).
    bin_mels = _mel(np.arange(fft_size // 2) * sample_rate / fft_size)[None, :]
    rising = (bin_mels - left) / (centre - left)
    falling = (right - bin_mels) / (right - centre)
    banks = np.maximum(0.0, np.minimum(rising, falling))
    banks = np.concatenate([banks, np.zeros((num_bins, 1))], axis=1)
    banks.flags.writeable = False  # shared through the cache
    return banks


def _mel(hz: np.ndarray | float) -> np.ndarray:
    return _MEL_SCALE * np.log1p(np.asarray(hz, dtype=np.float64) / _MEL_BREAK_HZ)


def _frames(samples: np.ndarray, config: KaldiFbankConfig) -> np.ndarray:
    """``[N]`` -> ``[F, window_size]`` frames (copies)."""
    size, shift = config.window_size, config.window_shift
    count = config.num_frames(samples.shape[0])
    if count == 0:
        return np.zeros((0, size))
    if config.snip_edges:
        starts = np.arange(count) * shift
    else:
        # frame k is centred on k * shift + shift / 2
        starts = np.arange(count) * shift + shift // 2 - size // 2
    index = starts[:, None] + np.arange(size)[None, :]
    return samples[_mirror(index, samples.shape[0])]


def _mirror(index: np.ndarray, length: int) -> np.ndarray:
    """Indices outside ``[0, length)`` reflected at the ends, edge samples repeated
    (``-1 -> 0``, ``length -> length - 1``), as often as needed for short signals."""
    folded = np.mod(index, 2 * length)
    return np.where(folded < length, folded, 2 * length - 1 - folded)


def _log_energy(frames: np.ndarray, config: KaldiFbankConfig) -> np.ndarray:
    """``[F, L]`` -> ``[F]`` log of the frames' energies, floored."""
    energy = np.log(np.maximum((frames**2).sum(axis=1), config.log_floor))
    if config.energy_floor > 0:
        energy = np.maximum(energy, np.log(config.energy_floor))
    return energy


@lru_cache(maxsize=16)
def _window(kind: str, size: int, blackman_coeff: float) -> np.ndarray:
    """The symmetric analysis window ``[size]``."""
    phase = 2 * np.pi * np.arange(size) / (size - 1)
    if kind == "rectangular":
        window = np.ones(size)
    elif kind == "hamming":
        window = 0.54 - 0.46 * np.cos(phase)
    elif kind == "blackman":
        window = blackman_coeff - 0.5 * np.cos(phase) + (0.5 - blackman_coeff) * np.cos(2 * phase)
    else:
        window = 0.5 - 0.5 * np.cos(phase)
        if kind == "povey":  # Povey's window: Hann, flattened a little
            window = window**0.85
    window.flags.writeable = False
    return window
