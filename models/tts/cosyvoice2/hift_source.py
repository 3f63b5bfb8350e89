"""The vocoder's two inputs besides the mel: an F0 predictor and a harmonic source from F0.

`F0Predictor` is a conv stack over the mel with a linear read-out per frame (the vocoder runs it
per item: see `HiFT._item_f0`). `HarmonicSource` makes one request's
excitation: F0 and 8 overtones as sines (voiced samples) or noise (unvoiced), merged into one
channel by a linear layer and a tanh.

Its random draws (initial phases of the overtones, the noise) come from the request's own
``torch.Generator``, never the global RNG. They are drawn in the official code's order, into
tensors of the same memory layout (torch fills a non-contiguous tensor by a different method
than a contiguous one), so a generator seeded like the official code's global RNG gives the
same numbers. The phase is a running sum reaching some 1e5 radians in a few seconds, where one
float32 step is about 0.01 radians: its arithmetic follows the official order operation by
operation, since a reordering alone would move the sines' phase by that much.
"""

from __future__ import annotations

import itertools
import math

import torch
import torch.nn.functional as F
from torch import nn

from models.tts.cosyvoice2.hift_config import HiFTConfig


class F0Predictor(nn.Module):
    """Mel -> F0 (Hz) per frame: ``[B, C, T] -> [B, T]``."""

    def __init__(self, config: HiFTConfig) -> None:
        super().__init__()
        widths = [config.in_channels] + [config.f0_channels] * config.f0_layers
        self.convs = nn.ModuleList(
            nn.Conv1d(a, b, config.f0_kernel, padding=config.f0_kernel // 2)
            for a, b in itertools.pairwise(widths)
        )
        self.classifier = nn.Linear(config.f0_channels, config.f0_classes)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """F0 of each frame ``[B, T]`` (every frame valid: the conv's zero padding must see
        each item's true end)."""
        x = mel
        for conv in self.convs:
            x = F.elu(conv(x))
        # abs: F0 is non-negative; the net's sign carries no meaning
        return torch.abs(self.classifier(x.transpose(1, 2)).squeeze(-1))


class HarmonicSource(nn.Module):
    """One request's F0 ``[T]`` (Hz, a value per mel frame) -> excitation ``[T * hop]``."""

    harmonic_numbers: torch.Tensor

    def __init__(self, config: HiFTConfig) -> None:
        super().__init__()
        self.config = config
        self.merge = nn.Linear(config.harmonics, 1)
        numbers = torch.arange(1, config.harmonics + 1, dtype=torch.float32)
        self.register_buffer("harmonic_numbers", numbers.view(1, 1, -1), persistent=False)

    def forward(self, f0: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        hop = self.config.hop
        if f0.numel() == 0:
            return f0.new_zeros(0)
        f0_samples = F.interpolate(f0.view(1, 1, -1), scale_factor=hop, mode="nearest")
        f0_samples = f0_samples.transpose(1, 2)  # [1, L, 1]
        sines = self._sines(f0_samples * self.harmonic_numbers, generator)  # [1, L, H]
        voiced = (f0_samples > self.config.nsf_voiced_threshold).type(torch.float32)
        alpha = self.config.nsf_alpha
        noise_std = voiced * self.config.nsf_sigma + (1 - voiced) * alpha / 3
        excitation = sines * voiced + noise_std * _normal_like(sines, generator)
        merged = torch.tanh(self.merge(excitation))  # [1, L, 1]
        # The official source also draws a noise branch that the vocoder never uses; drawn and
        # dropped here so a request's later calls (streaming) stay in step with it.
        _normal_like(voiced, generator)
        return merged.view(-1)

    def _sines(self, frequencies: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Sines of the given frequencies ``[1, L, H]`` (Hz per sample), amplitude ``alpha``.

        The phase advances by ``f / rate`` turns a sample; it is summed at the frame rate
        (linear down- and upsampling by the hop) rather than per sample.
        """
        hop = self.config.hop
        turns = (frequencies / self.config.sampling_rate) % 1
        initial = torch.rand(
            1, self.config.harmonics, generator=generator, device=generator.device
        ).to(turns.device)
        initial[:, 0] = 0  # F0 itself starts at phase 0; its overtones at random phases
        turns[:, 0, :] = turns[:, 0, :] + initial
        per_frame = F.interpolate(turns.transpose(1, 2), scale_factor=1 / hop, mode="linear")
        phase = torch.cumsum(per_frame.transpose(1, 2), dim=1) * 2 * math.pi  # [1, T, H]
        phase = F.interpolate(phase.transpose(1, 2) * hop, scale_factor=hop, mode="linear")
        return torch.sin(phase.transpose(1, 2)) * self.config.nsf_alpha


def _normal_like(like: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Standard normal noise of ``like``'s shape and memory layout, drawn from ``generator``
    (on the generator's device, then moved to ``like``'s)."""
    noise = torch.empty_strided(
        like.shape, like.stride(), dtype=like.dtype, device=generator.device
    )
    return noise.normal_(generator=generator).to(like.device)


def masked(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """``x`` with padding zeroed (``mask`` ``[B, 1, T]``, 1 on valid positions); None: as is."""
    return x if mask is None else x * mask
