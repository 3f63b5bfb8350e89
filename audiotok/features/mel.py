"""Log-mel front ends in torch: Whisper-style (for encoders and S3 tokenizers) and vocoder mels.

Both pad every item of a batch with its own reflection before the STFT and run the STFT without
centring, so a batch gives every item exactly the frames it gets alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch


@dataclass(frozen=True)
class WhisperMelConfig:
    """Whisper log-mel settings: 16 kHz, 25 ms Hann window, 10 ms hop.

    ``n_mels`` is 80 (Whisper up to v2) or 128 (Whisper large-v3, S3 tokenizers).
    ``dynamic_range`` is in log10 units: values below ``max - dynamic_range`` are clamped
    (Whisper uses 8, i.e. 80 dB).
    """

    sample_rate: int = 16000
    n_fft: int = 400
    hop_length: int = 160
    n_mels: int = 80
    dynamic_range: float = 8.0

    @property
    def frame_rate(self) -> float:
        return self.sample_rate / self.hop_length


@dataclass(frozen=True)
class VocoderMelConfig:
    """Mel settings of a vocoder: natural-log magnitude mel with a floor.

    The default is the common 22.05 kHz / hop 256 / 80-bin HiFi-GAN setting; 24 kHz vocoders
    use hop 256 or 480 with ``fmax`` 12 kHz.
    """

    sample_rate: int = 22050
    n_fft: int = 1024
    hop_length: int = 256
    win_length: int = 1024
    n_mels: int = 80
    fmin: float = 0.0
    fmax: float | None = 8000.0
    log_floor: float = 1e-5

    @property
    def frame_rate(self) -> float:
        return self.sample_rate / self.hop_length


@lru_cache(maxsize=16)
def mel_filterbank(
    sample_rate: int, n_fft: int, n_mels: int, fmin: float = 0.0, fmax: float | None = None
) -> torch.Tensor:
    """Slaney-scale, Slaney-normalised triangular filters ``[n_mels, n_fft // 2 + 1]`` float32
    (`slaney_mel_filters` as a tensor)."""
    return torch.from_numpy(slaney_mel_filters(sample_rate, n_fft, n_mels, fmin, fmax))


def slaney_mel_filters(
    sample_rate: int,
    n_fft: int,
    n_mels: int,
    fmin: float = 0.0,
    fmax: float | None = None,
    dtype: type[np.floating] = np.float32,
) -> np.ndarray:
    """Slaney-scale, Slaney-normalised triangular filters ``[n_mels, n_fft // 2 + 1]``.

    Bit-identical to ``librosa.filters.mel(..., htk=False, norm="slaney", dtype=dtype)``
    (tested), built in numpy: librosa's import (numba, scipy.signal) costs seconds in every
    fresh worker.
    """
    fmax = sample_rate / 2 if fmax is None else fmax
    bins = np.fft.rfftfreq(n_fft, d=1.0 / sample_rate)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_mels + 2))
    widths = np.diff(edges)  # [n_mels + 1]
    offsets = edges[:, None] - bins[None, :]  # [n_mels + 2, bins]
    rising = -offsets[:-2] / widths[:-1, None]
    falling = offsets[2:] / widths[1:, None]
    # Triangles in ``dtype``, then scaled to equal area: librosa's roundings, so the filters
    # (and Whisper / S3 mels built on them) are bit-identical to the references.
    triangles = np.maximum(0.0, np.minimum(rising, falling)).astype(dtype)
    area = 2.0 / (edges[2:] - edges[:-2])
    return (triangles.astype(np.float64) * area[:, None]).astype(dtype)


# Slaney's mel scale: linear (200/3 Hz per mel) below 1 kHz, logarithmic above (27 mels per
# factor of 6.4).
_LINEAR_HZ_PER_MEL = 200.0 / 3
_LOG_START_HZ = 1000.0
_LOG_START_MEL = _LOG_START_HZ / _LINEAR_HZ_PER_MEL
_LOG_STEP = np.log(6.4) / 27.0


def _hz_to_mel(hz: float) -> float:
    if hz < _LOG_START_HZ:
        return hz / _LINEAR_HZ_PER_MEL
    return float(_LOG_START_MEL + np.log(hz / _LOG_START_HZ) / _LOG_STEP)


def _mel_to_hz(mels: np.ndarray) -> np.ndarray:
    linear = mels * _LINEAR_HZ_PER_MEL
    logarithmic = _LOG_START_HZ * np.exp(_LOG_STEP * (mels - _LOG_START_MEL))
    return np.where(mels >= _LOG_START_MEL, logarithmic, linear)


def _pad_batch(
    waves: torch.Tensor, lengths: torch.Tensor | None, pad: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Reflect-pad each item by ``pad`` on both sides, around its own valid samples.

    [B, N] -> [B, N + 2 * pad]; returns the padded batch and the lengths.
    """
    batch, total = waves.shape
    if lengths is None:
        lengths = torch.full((batch,), total, dtype=torch.long)
    lengths = lengths.to(torch.long).cpu()
    if int(lengths.min()) <= pad:
        raise ValueError(f"every waveform needs more than {pad} samples, got {lengths.tolist()}")
    out = waves.new_zeros(batch, total + 2 * pad)
    for i, n in enumerate(lengths.tolist()):
        item = waves[i : i + 1, :n].unsqueeze(0)  # [1, 1, n] for F.pad's reflect mode
        out[i, : n + 2 * pad] = torch.nn.functional.pad(item, (pad, pad), mode="reflect")[0, 0]
    return out, lengths


def _power_spectrogram(
    padded: torch.Tensor, n_fft: int, hop: int, win_length: int, power: float
) -> torch.Tensor:
    """[B, N] -> [B, n_fft // 2 + 1, frames] of ``|STFT| ** power``."""
    window = torch.hann_window(win_length, device=padded.device, dtype=padded.dtype)
    spec = torch.stft(
        padded, n_fft, hop, win_length, window=window, center=False, return_complex=True
    )
    return spec.abs() ** power


def whisper_log_mel(
    waves: torch.Tensor,
    lengths: torch.Tensor | None = None,
    config: WhisperMelConfig | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Whisper log-mel of a batch.

    Args:
        waves: ``[B, N]`` float 16 kHz audio, zero-padded on the right (or ``[N]``).
        lengths: valid samples per item ``[B]``; None means all ``N``.
        config: mel settings (80 bins by default).

    Returns:
        ``(mels [B, n_mels, T], frames [B])``: ``T = N // hop``; an item of ``n`` samples has
        ``n // hop`` valid frames, and frames past them are the floor value of that item.
    """
    config = config or WhisperMelConfig()
    if waves.ndim == 1:
        waves = waves.unsqueeze(0)
    waves = waves.to(torch.float32)
    padded, lengths = _pad_batch(waves, lengths, config.n_fft // 2)
    power = _power_spectrogram(padded, config.n_fft, config.hop_length, config.n_fft, 2.0)
    # Whisper drops the STFT's last frame: T = N // hop rather than 1 + N // hop.
    power = power[..., : waves.shape[1] // config.hop_length]
    filters = mel_filterbank(config.sample_rate, config.n_fft, config.n_mels).to(power.device)
    log_mel = torch.clamp(filters @ power, min=1e-10).log10()  # [B, n_mels, T]
    frames = lengths // config.hop_length
    valid = torch.arange(log_mel.shape[-1])[None, :] < frames[:, None]  # [B, T]
    valid = valid.to(log_mel.device)[:, None, :]
    peak = log_mel.masked_fill(~valid, float("-inf")).amax(dim=(1, 2), keepdim=True)
    log_mel = torch.maximum(log_mel, peak - config.dynamic_range)
    log_mel = torch.where(valid, log_mel, peak - config.dynamic_range)
    return (log_mel + 4.0) / 4.0, frames.to(log_mel.device)


def vocoder_log_mel(
    waves: torch.Tensor,
    lengths: torch.Tensor | None = None,
    config: VocoderMelConfig | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Natural-log magnitude mel for vocoders and flow models.

    Args:
        waves: ``[B, N]`` (or ``[N]``) float audio at ``config.sample_rate``.
        lengths: valid samples per item ``[B]``; None means all ``N``.

    Returns:
        ``(mels [B, n_mels, T], frames [B])`` with ``T = 1 + N // hop`` (centred frames).
    """
    config = config or VocoderMelConfig()
    if waves.ndim == 1:
        waves = waves.unsqueeze(0)
    waves = waves.to(torch.float32)
    padded, lengths = _pad_batch(waves, lengths, config.n_fft // 2)
    magnitude = _power_spectrogram(padded, config.n_fft, config.hop_length, config.win_length, 1.0)
    filters = mel_filterbank(
        config.sample_rate, config.n_fft, config.n_mels, config.fmin, config.fmax
    ).to(magnitude.device)
    mel = torch.clamp(filters @ magnitude, min=config.log_floor).log()
    return mel, (1 + lengths // config.hop_length).to(mel.device)


def whisper_log_mel_chunked(
    wave: torch.Tensor, config: WhisperMelConfig | None = None, chunk_frames: int = 3000
) -> torch.Tensor:
    """Whisper log-mel of one long waveform, ``chunk_frames`` STFT frames at a time.

    Equal to ``whisper_log_mel(wave)[0]`` but the STFT's complex spectrum never exists for
    more than one chunk, so an hour of audio needs the log-mel itself (about 180 MB at 128
    bins) rather than several GB of spectra.

    Args:
        wave: ``[N]`` float 16 kHz audio, ``N > n_fft // 2``.

    Returns:
        ``[n_mels, N // hop]``.
    """
    config = config or WhisperMelConfig()
    hop, n_fft = config.hop_length, config.n_fft
    padded, _ = _pad_batch(wave.to(torch.float32)[None], None, n_fft // 2)
    total = wave.shape[-1] // hop
    filters = mel_filterbank(config.sample_rate, n_fft, config.n_mels).to(wave.device)
    parts = []
    for first in range(0, total, chunk_frames):
        last = min(total, first + chunk_frames)
        # frames first..last-1 start at first*hop; the last one ends n_fft samples later
        segment = padded[:, first * hop : (last - 1) * hop + n_fft]
        power = _power_spectrogram(segment, n_fft, hop, n_fft, 2.0)  # [1, F, last - first]
        parts.append(torch.clamp(filters @ power[0], min=1e-10).log10())
    log_mel = torch.cat(parts, dim=-1)  # [n_mels, total]
    log_mel = torch.maximum(log_mel, log_mel.max() - config.dynamic_range)
    return (log_mel + 4.0) / 4.0
