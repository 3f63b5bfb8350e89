"""Quantizers for the semantic tokenizer: EMA vector quantisation and FSQ.

Both take encoder features ``x [B, T, D]`` and a validity mask ``[B, T]`` and return a
:class:`QuantizerOutput` whose ``quantized`` tensor carries straight-through gradients to ``x``.
Both run in float32 even under autocast.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from models.semantic_tokenizer.config import QuantizerConfig


@dataclass
class QuantizerOutput:
    """``quantized [B, T, D]`` (straight-through), ``codes [B, T]`` int64 (``-1`` where
    padded), ``loss`` (scalar commitment loss, zero for FSQ)."""

    quantized: torch.Tensor
    codes: torch.Tensor
    loss: torch.Tensor


def _all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(tensor)
    return tensor


class EMAVectorQuantizer(nn.Module):
    """Vector quantiser with an EMA-updated codebook and dead-code restarts.

    Features are projected ``dim -> code_dim``, matched to the nearest of ``codebook_size``
    codes (squared Euclidean), and projected back ``code_dim -> dim``. The codebook is not
    trained by gradients: in training mode each forward updates EMA cluster counts and sums over
    the valid frames (summed across ranks under ``torch.distributed``), and codes whose EMA count
    falls below ``dead_threshold`` are re-seeded from random frames of the current batch.
    """

    def __init__(self, dim: int, config: QuantizerConfig) -> None:
        super().__init__()
        self.config = config
        self.codebook_size = config.codebook_size
        self.proj_in = nn.Linear(dim, config.code_dim)
        self.proj_out = nn.Linear(config.code_dim, dim)
        embed = torch.randn(config.codebook_size, config.code_dim)
        self.register_buffer("codebook", embed)
        self.register_buffer("cluster_size", torch.ones(config.codebook_size))
        self.register_buffer("embed_sum", embed.clone())
        self.register_buffer("initialised", torch.zeros((), dtype=torch.bool))
        self.codebook: torch.Tensor
        self.cluster_size: torch.Tensor
        self.embed_sum: torch.Tensor
        self.initialised: torch.Tensor

    @property
    def num_codes(self) -> int:
        return self.codebook_size

    def nearest(self, z: torch.Tensor) -> torch.Tensor:
        """``z [N, code_dim]`` -> code index ``[N]``."""
        distances = (
            z.pow(2).sum(-1, keepdim=True)
            - 2 * z @ self.codebook.t()
            + self.codebook.pow(2).sum(-1)[None, :]
        )
        return distances.argmin(-1)

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        """Code indices ``[...]`` -> features ``[..., dim]`` (after the output projection)."""
        return self.proj_out(self.codebook[codes.clamp(min=0)])

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> QuantizerOutput:
        with torch.autocast(device_type=x.device.type, enabled=False):
            z = self.proj_in(x.float())  # [B, T, code_dim]
            flat = z[mask]  # [N, code_dim]
            if self.training and flat.shape[0] > 0:
                self._maybe_initialise(flat.detach())
            codes = torch.full(mask.shape, -1, dtype=torch.long, device=x.device)
            flat_codes = self.nearest(flat.detach())
            codes[mask] = flat_codes
            if self.training and flat.shape[0] > 0:
                self._ema_update(flat.detach(), flat_codes)
            chosen = self.codebook[codes.clamp(min=0)]  # [B, T, code_dim]
            valid = mask[..., None].float()
            count = valid.sum().clamp(min=1.0) * z.shape[-1]
            loss = self.config.commitment * ((z - chosen).pow(2) * valid).sum() / count
            straight = z + (chosen - z).detach()
            quantized = self.proj_out(straight)
        return QuantizerOutput(quantized=quantized, codes=codes, loss=loss)

    @torch.no_grad()
    def _maybe_initialise(self, flat: torch.Tensor) -> None:
        """Seed the codebook from the first batch's features (k-means++ would be nicer)."""
        if bool(self.initialised):
            return
        picks = torch.randint(0, flat.shape[0], (self.codebook_size,), device=flat.device)
        seed = flat[picks] + 0.01 * torch.randn_like(flat[picks])
        if dist.is_available() and dist.is_initialized():
            dist.broadcast(seed, src=0)
        self.codebook.copy_(seed)
        self.embed_sum.copy_(seed)
        self.cluster_size.fill_(1.0)
        self.initialised.fill_(True)

    @torch.no_grad()
    def _ema_update(self, flat: torch.Tensor, codes: torch.Tensor) -> None:
        decay, eps = self.config.decay, self.config.epsilon
        onehot = torch.zeros(flat.shape[0], self.codebook_size, device=flat.device)
        onehot.scatter_(1, codes[:, None], 1.0)
        counts = _all_reduce_sum(onehot.sum(0))
        sums = _all_reduce_sum(onehot.t() @ flat)
        self.cluster_size.mul_(decay).add_(counts, alpha=1 - decay)
        self.embed_sum.mul_(decay).add_(sums, alpha=1 - decay)
        total = self.cluster_size.sum()
        smoothed = (self.cluster_size + eps) / (total + self.codebook_size * eps) * total
        self.codebook.copy_(self.embed_sum / smoothed[:, None])
        self._restart_dead(flat)

    @torch.no_grad()
    def _restart_dead(self, flat: torch.Tensor) -> int:
        """Re-seed codes whose EMA count is below ``dead_threshold``; returns how many."""
        dead = self.cluster_size < self.config.dead_threshold
        num_dead = int(dead.sum())
        if num_dead == 0:
            return 0
        picks = torch.randint(0, flat.shape[0], (num_dead,), device=flat.device)
        fresh = flat[picks] + 0.01 * torch.randn(num_dead, flat.shape[1], device=flat.device)
        if dist.is_available() and dist.is_initialized():
            dist.broadcast(fresh, src=0)
        self.codebook[dead] = fresh
        self.embed_sum[dead] = fresh
        self.cluster_size[dead] = 1.0
        return num_dead


class FSQuantizer(nn.Module):
    """Finite scalar quantisation (Mentzer et al. 2023) with straight-through rounding.

    Features are projected ``dim -> len(levels)``, each dimension bounded with ``tanh`` to
    ``levels[i]`` integer values and rounded; the code is the mixed-radix number of the rounded
    values, in ``[0, prod(levels))``. Rounded values are scaled to [-1, 1] and projected back.
    """

    def __init__(self, dim: int, config: QuantizerConfig) -> None:
        super().__init__()
        self.config = config
        levels = torch.tensor(config.levels, dtype=torch.long)
        if (levels < 2).any():
            raise ValueError(f"FSQ levels must be >= 2, got {config.levels}")
        self.register_buffer("levels", levels, persistent=False)
        radix = torch.cumprod(torch.cat([torch.ones(1, dtype=torch.long), levels[:-1]]), 0)
        self.register_buffer("radix", radix, persistent=False)
        self.levels: torch.Tensor
        self.radix: torch.Tensor
        self.proj_in = nn.Linear(dim, len(config.levels))
        self.proj_out = nn.Linear(len(config.levels), dim)

    @property
    def num_codes(self) -> int:
        return math.prod(self.config.levels)

    def bound(self, z: torch.Tensor) -> torch.Tensor:
        """Squash ``z [..., L]`` so that rounding gives exactly ``levels[i]`` integers."""
        levels = self.levels.to(z.dtype)
        half = (levels - 1) * (1 + 1e-3) / 2
        offset = torch.where(self.levels % 2 == 0, 0.5, 0.0).to(z.dtype)
        shift = torch.atanh(offset / half)
        return torch.tanh(z + shift) * half - offset

    def quantize(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``z [..., L]`` -> (values in [-1, 1] with straight-through gradient, codes [...])."""
        bounded = self.bound(z)
        rounded = bounded + (torch.round(bounded) - bounded).detach()
        half_width = (self.levels // 2).to(z.dtype)
        digits = (torch.round(bounded).long() + self.levels // 2).clamp(min=0)
        digits = torch.minimum(digits, self.levels - 1)
        codes = (digits * self.radix).sum(-1)
        return rounded / half_width, codes

    def codes_to_values(self, codes: torch.Tensor) -> torch.Tensor:
        """Code indices ``[...]`` -> scaled values ``[..., L]`` in [-1, 1]."""
        digits = (codes.clamp(min=0)[..., None] // self.radix) % self.levels
        half_width = self.levels // 2
        return (digits - half_width).float() / half_width.float()

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        return self.proj_out(self.codes_to_values(codes))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> QuantizerOutput:
        with torch.autocast(device_type=x.device.type, enabled=False):
            values, codes = self.quantize(self.proj_in(x.float()))
            quantized = self.proj_out(values)
        codes = codes.masked_fill(~mask, -1)
        return QuantizerOutput(
            quantized=quantized, codes=codes, loss=x.new_zeros((), dtype=torch.float32)
        )


def build_quantizer(dim: int, config: QuantizerConfig) -> EMAVectorQuantizer | FSQuantizer:
    if config.kind == "vq":
        return EMAVectorQuantizer(dim, config)
    if config.kind == "fsq":
        return FSQuantizer(dim, config)
    raise ValueError(f"unknown quantizer kind {config.kind!r}; use 'vq' or 'fsq'")
