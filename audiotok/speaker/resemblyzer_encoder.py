"""Resemblyzer's d-vector speaker encoder, reimplemented in torch.

Architecture (Resemblyzer 0.1.4, GE2E-trained): 40-bin power mel spectrogram of 16 kHz
audio (25 ms Hann window, 10 ms hop, centred frames, Slaney mel filters, not logged) ->
3-layer LSTM of 256 units -> the last layer's final hidden state -> linear 256 -> ReLU ->
L2 norm.  An utterance is cut into partial utterances of 160 frames (1.6 s) every
``16000 / rate`` samples; their embeddings are averaged and normalised again.

The weights are the ``pretrained.pt`` file of the installed ``Resemblyzer`` package, located
without importing it (its import needs ``webrtcvad``).  Resemblyzer's ``preprocess_wav``
also trims long silences with webrtcvad; that step is not reproduced (run a VAD first if
the inputs have long pauses).  Its volume normalisation (raise to -30 dBFS, never lower)
is, through ``target_dbfs``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from audiotok._components import package_file
from audiotok.errors import WeightsNotFoundError
from audiotok.features.mel import mel_filterbank
from audiotok.requirements import LocalFile, PackageData, Requirement
from audiotok.speaker.base import SPEAKER_REGISTRY, SpeakerEncoder

SAMPLE_RATE = 16000
N_FFT = 400  # 25 ms
HOP = 160  # 10 ms
N_MELS = 40
PARTIAL_FRAMES = 160  # 1.6 s
WHAT = "resemblyzer speaker encoder"
PACKAGED_WEIGHTS = ("resemblyzer", "pretrained.pt")
DISTRIBUTION = "Resemblyzer"
# --no-deps: the package requires webrtcvad, a C extension that needs a compiler, for the
# silence trimming that this encoder does not use.
INSTALL = "pip install --no-deps Resemblyzer==0.1.4"


@dataclass(frozen=True)
class ResemblyzerConfig:
    """Resemblyzer encoder settings.

    Attributes:
        weights: a ``pretrained.pt``-style checkpoint; None uses the installed package's.
        rate: partial utterances per second (at least 0.625 so they cover the utterance).
        min_coverage: the last partial is kept if at least this fraction of it is audio.
        target_dbfs: quieter inputs are raised to this RMS level (None: no change).
        device: torch device.
    """

    weights: str | None = None
    rate: float = 1.3
    min_coverage: float = 0.75
    target_dbfs: float | None = -30.0
    device: str = "cpu"


class VoiceEncoderNet(nn.Module):
    """LSTM d-vector network: mels ``[P, 160, 40]`` -> unit-norm embeddings ``[P, 256]``."""

    def __init__(self, hidden: int = 256, layers: int = 3, dim: int = 256) -> None:
        super().__init__()
        self.lstm = nn.LSTM(N_MELS, hidden, layers, batch_first=True)
        self.linear = nn.Linear(hidden, dim)

    def forward(self, mels: torch.Tensor) -> torch.Tensor:
        _, (hidden, _) = self.lstm(mels)
        raw = torch.relu(self.linear(hidden[-1]))
        return raw / raw.norm(dim=1, keepdim=True).clamp_min(1e-12)


def partial_starts(num_samples: int, rate: float, min_coverage: float) -> list[int]:
    """First mel frame of each 160-frame partial utterance of a ``num_samples`` waveform.

    Partials start every ``round(16000 / rate / 160)`` frames and cover the whole input; the
    last one is dropped when less than ``min_coverage`` of it is audio, unless it is the only
    one.
    """
    if not 0 < min_coverage <= 1:
        raise ValueError(f"min_coverage must be in (0, 1], got {min_coverage}")
    step = round(SAMPLE_RATE / rate / HOP)
    if not 0 < step <= PARTIAL_FRAMES:
        raise ValueError(f"rate {rate} must be in [{SAMPLE_RATE / HOP / PARTIAL_FRAMES}, 100]")
    total_frames = math.ceil((num_samples + 1) / HOP)
    starts = list(range(0, max(1, total_frames - PARTIAL_FRAMES + step + 1), step))
    coverage = (num_samples - starts[-1] * HOP) / (PARTIAL_FRAMES * HOP)
    if coverage < min_coverage and len(starts) > 1:
        starts.pop()
    return starts


def power_mel(wave: torch.Tensor) -> torch.Tensor:
    """``[N]`` 16 kHz audio -> ``[1 + N // 160, 40]`` power mel (zero-padded centred frames)."""
    window = torch.hann_window(N_FFT, dtype=wave.dtype, device=wave.device)
    spec = torch.stft(
        wave, N_FFT, HOP, window=window, center=True, pad_mode="constant", return_complex=True
    )
    filters = mel_filterbank(SAMPLE_RATE, N_FFT, N_MELS).to(wave.device)
    return (filters @ spec.abs().pow(2)).T


@SPEAKER_REGISTRY.register("resemblyzer", ResemblyzerConfig)
class ResemblyzerEncoder(SpeakerEncoder):
    """Resemblyzer d-vectors (256-d) with the packaged weights."""

    def __init__(self, config: ResemblyzerConfig | None = None) -> None:
        self.config = config or ResemblyzerConfig()
        self.device = torch.device(self.config.device)
        self.net = VoiceEncoderNet()
        self.net.load_state_dict(_load_state(self.config.weights))
        self.net.to(self.device).eval()

    @classmethod
    def requirements(cls, config: ResemblyzerConfig) -> list[Requirement]:
        if config.weights is not None:
            return [LocalFile(config.weights, "the weights file")]
        return [PackageData(*PACKAGED_WEIGHTS, distribution=DISTRIBUTION, install=INSTALL)]

    @property
    def sample_rate(self) -> int:
        return SAMPLE_RATE

    @property
    def dim(self) -> int:
        return self.net.linear.out_features

    def _embed(self, waves: list[np.ndarray]) -> np.ndarray:
        """All partials of all waveforms go through the LSTM as one batch."""
        partials: list[torch.Tensor] = []
        owners: list[int] = []
        for index, wave in enumerate(waves):
            wave = _raise_volume(wave, self.config.target_dbfs)
            starts = partial_starts(wave.size, self.config.rate, self.config.min_coverage)
            needed = (starts[-1] + PARTIAL_FRAMES) * HOP
            padded = np.pad(wave, (0, max(0, needed - wave.size)))
            mel = power_mel(torch.from_numpy(padded).to(self.device))
            partials.extend(mel[s : s + PARTIAL_FRAMES] for s in starts)
            owners.extend([index] * len(starts))
        with torch.inference_mode():
            embeds = self.net(torch.stack(partials))  # [P, D]
        owner = torch.tensor(owners, device=embeds.device)
        sums = torch.zeros(len(waves), embeds.shape[1], device=embeds.device)
        sums.index_add_(0, owner, embeds)
        return sums.cpu().numpy()  # the base class L2-normalises (mean and sum agree)


def _raise_volume(wave: np.ndarray, target_dbfs: float | None) -> np.ndarray:
    """Scale ``wave`` up to ``target_dbfs`` RMS; louder (or silent) inputs are left alone."""
    if target_dbfs is None:
        return wave
    rms = float(np.sqrt(np.mean(np.square(wave, dtype=np.float64))))
    if rms == 0.0 or 20 * math.log10(rms) >= target_dbfs:
        return wave
    return (wave * (10 ** (target_dbfs / 20) / rms)).astype(np.float32)


def _load_state(weights: str | None) -> dict[str, torch.Tensor]:
    if weights is None:
        path = package_file(*PACKAGED_WEIGHTS, what=WHAT, package=DISTRIBUTION, install=INSTALL)
    else:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise WeightsNotFoundError(f"{WHAT}: no weights file {path}")
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    state = checkpoint.get("model_state", checkpoint)
    kept = {k: v for k, v in state.items() if k.startswith(("lstm.", "linear."))}
    if not kept:
        raise WeightsNotFoundError(f"{WHAT}: {path} has no encoder weights")
    return kept
