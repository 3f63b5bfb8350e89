"""`HiFTConfig`: the CosyVoice 2 HiFT vocoder's shape, and its presets.

HiFT (HiFTNet: a neural source filter feeding an iSTFTNet) turns an 80-bin mel at 50 frames a
second into 24 kHz audio: 480 samples a frame, from three transposed-conv upsamplings
(8 x 5 x 3 = 120 spectrogram frames a mel frame) and an inverse STFT of hop 4. A small conv
net predicts F0 from the mel; a harmonic sine source built from it is mixed in at each
upsampling stage through the source's own STFT.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(frozen=True)
class HiFTConfig:
    """Every hyperparameter of the vocoder (names follow the official ``cosyvoice2.yaml``).

    Attributes:
        in_channels: mel bins.
        base_channels: width after ``conv_pre``; halved by each upsampling.
        pre_kernel, post_kernel: kernels of ``conv_pre`` and ``conv_post``.
        upsample_rates, upsample_kernel_sizes: the transposed convs.
        resblock_kernel_sizes, resblock_dilation_sizes: the residual blocks averaged after each
            upsampling (one per kernel size).
        source_resblock_kernel_sizes, source_resblock_dilation_sizes: one residual block per
            stage on the downsampled source STFT.
        lrelu_slope: leaky ReLU slope before each upsampling.
        post_lrelu_slope: leaky ReLU slope before ``conv_post`` (torch's default).
        n_fft, istft_hop: the (inverse) STFT of the output and of the source.
        max_magnitude: the predicted magnitudes are clipped to this before the inverse STFT.
        audio_limit: the waveform is clamped to ``[-audio_limit, audio_limit]``.
        snake_epsilon: added to the Snake activation's alpha before dividing by it.
        sampling_rate: output rate (Hz).
        nb_harmonics: overtones of the sine source above F0.
        nsf_alpha: amplitude of the sines (unvoiced noise has std ``nsf_alpha / 3``).
        nsf_sigma: std of the noise added to voiced samples.
        nsf_voiced_threshold: F0 (Hz) above which a sample is voiced.
        f0_channels, f0_layers, f0_kernel: the conv stack of the F0 predictor.
        f0_classes: outputs of its classifier (1: F0 itself).
        stream_cache_frames: mel frames each streaming step keeps and vocodes again with the
            next chunk; as many samples of the source are reused and of the output cross-faded.
    """

    in_channels: int = 80
    base_channels: int = 512
    pre_kernel: int = 7
    post_kernel: int = 7
    upsample_rates: tuple[int, ...] = (8, 5, 3)
    upsample_kernel_sizes: tuple[int, ...] = (16, 11, 7)
    resblock_kernel_sizes: tuple[int, ...] = (3, 7, 11)
    resblock_dilation_sizes: tuple[tuple[int, ...], ...] = ((1, 3, 5), (1, 3, 5), (1, 3, 5))
    source_resblock_kernel_sizes: tuple[int, ...] = (7, 7, 11)
    source_resblock_dilation_sizes: tuple[tuple[int, ...], ...] = (
        (1, 3, 5),
        (1, 3, 5),
        (1, 3, 5),
    )
    lrelu_slope: float = 0.1
    post_lrelu_slope: float = 0.01
    n_fft: int = 16
    istft_hop: int = 4
    max_magnitude: float = 1e2
    audio_limit: float = 0.99
    snake_epsilon: float = 1e-9
    sampling_rate: int = 24000
    nb_harmonics: int = 8
    nsf_alpha: float = 0.1
    nsf_sigma: float = 0.003
    nsf_voiced_threshold: float = 10.0
    f0_channels: int = 512
    f0_layers: int = 5
    f0_kernel: int = 3
    f0_classes: int = 1
    stream_cache_frames: int = 8

    def __post_init__(self) -> None:
        stages = len(self.upsample_rates)
        if not (
            len(self.upsample_kernel_sizes) == stages == len(self.source_resblock_kernel_sizes)
        ):
            raise ValueError(
                "HiFT config: upsample_rates, upsample_kernel_sizes and "
                "source_resblock_kernel_sizes need one entry per stage"
            )
        if len(self.resblock_kernel_sizes) != len(self.resblock_dilation_sizes) or len(
            self.source_resblock_kernel_sizes
        ) != len(self.source_resblock_dilation_sizes):
            raise ValueError("HiFT config: one dilation list per residual block kernel size")
        if self.base_channels % 2**stages:
            raise ValueError(f"HiFT config: base_channels must be divisible by {2**stages}")

    @property
    def spectral_frames_per_mel_frame(self) -> int:
        """Frames of the inner spectrogram per mel frame (the upsampling's product)."""
        return math.prod(self.upsample_rates)

    @property
    def hop(self) -> int:
        """Output samples per mel frame (480 at 24 kHz)."""
        return self.spectral_frames_per_mel_frame * self.istft_hop

    @property
    def frequency_bins(self) -> int:
        return self.n_fft // 2 + 1

    @property
    def harmonics(self) -> int:
        """Sines of the source: F0 and its overtones."""
        return self.nb_harmonics + 1

    def stage_channels(self, stage: int) -> int:
        """Width after upsampling ``stage`` (0-based)."""
        return self.base_channels // 2 ** (stage + 1)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HiFTConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"HiFT config: unknown key(s) {', '.join(unknown)}")
        return cls(**{key: _tuples(value) for key, value in data.items()})


def _tuples(value: Any) -> Any:
    """Lists (as JSON or YAML give them) as the tuples a frozen config holds."""
    if isinstance(value, list):
        return tuple(_tuples(item) for item in value)
    return value


def cosyvoice2() -> HiFTConfig:
    """The official CosyVoice2-0.5B vocoder (``hift.pt``)."""
    return HiFTConfig()


def debug() -> HiFTConfig:
    """A tiny vocoder for tests: widths 32 -> 4, 16 in the F0 predictor, the official strides
    (so a mel frame is still 480 samples and the streaming cache the same length)."""
    return HiFTConfig(base_channels=32, f0_channels=16)


PRESETS = {"cosyvoice2": cosyvoice2, "debug": debug}
