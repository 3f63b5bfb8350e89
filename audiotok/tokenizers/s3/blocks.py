"""Transformer blocks of the S3 encoders: attention (+ rotary, + FSMN memory) and MLP.

The arithmetic follows the published models operation by operation (scale q and k by
``head_dim ** -0.25`` each, add a -1e10 bias on masked keys, float softmax), because codes
are argmax / rounding decisions: a different but "equivalent" order of float operations
would flip a few codes against the official ONNX graphs.

Every module takes an optional `LayerCache` so that the streaming encoder (`streaming.py`)
can run chunk by chunk: keys/values of earlier frames and the FSMN's left context.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# Bias added to the scores of masked keys; exp() of it underflows to exactly 0.
MASK_BIAS = -1.0e10


def rotary_table(head_dim: int, length: int, theta: float, start: int = 0) -> Tensor:
    """``[length, head_dim]`` complex rotations for positions ``start .. start + length``.

    Built as the reference builds it (``torch.polar`` of ``outer(t, freqs)``, both halves of
    the head using the same ``head_dim / 2`` frequencies) so the cos/sin are bit-identical.
    """
    freqs = 1.0 / (theta ** (torch.arange(0, head_dim, 2)[: head_dim // 2].float() / head_dim))
    positions = torch.arange(start, start + length, device=freqs.device)
    angles = torch.outer(positions, freqs).float()
    table = torch.polar(torch.ones_like(angles), angles)
    return torch.cat((table, table), dim=-1)


def apply_rotary(x: Tensor, table: Tensor) -> Tensor:
    """Rotate ``x [B, T, H, Dh]`` by ``table [T, Dh]`` (rotate-half convention)."""
    parts = torch.view_as_real(table)
    cos = parts[:, :, 0].unsqueeze(0).unsqueeze(2).to(x.dtype)
    sin = parts[:, :, 1].unsqueeze(0).unsqueeze(2).to(x.dtype)
    half = x.shape[-1] // 2
    rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
    return x * cos + rotated * sin


@dataclass
class LayerCache:
    """Streaming state of one block: what later chunks need from earlier ones.

    Attributes:
        keys: rotated keys ``[B, H, T_past, Dh]`` (already scaled), or None.
        values: values ``[B, H, T_past, Dh]``, or None.
        fsmn_context: the last ``fsmn_kernel - 1`` value frames ``[B, kernel - 1, D]``.
    """

    keys: Tensor | None = None
    values: Tensor | None = None
    fsmn_context: Tensor | None = None


class Attention(nn.Module):
    """Multi-head self-attention; keys have no bias (as in Whisper).

    With ``fsmn_kernel > 0`` a depthwise conv over the values (FSMN memory) is added to the
    output: ``out(attn) + (v + conv(v)) * mask``.
    """

    def __init__(self, width: int, heads: int, fsmn_kernel: int = 0, causal: bool = False):
        super().__init__()
        self.heads = heads
        self.q_proj = nn.Linear(width, width)
        self.k_proj = nn.Linear(width, width, bias=False)
        self.v_proj = nn.Linear(width, width)
        self.o_proj = nn.Linear(width, width)
        self.fsmn_kernel = fsmn_kernel
        self.causal = causal
        if fsmn_kernel > 0:
            self.fsmn = nn.Conv1d(width, width, fsmn_kernel, groups=width, bias=False)
            # Centred like the published models; the streaming variant looks back only.
            left = fsmn_kernel - 1 if causal else (fsmn_kernel - 1) // 2
            self.fsmn_pad = (left, fsmn_kernel - 1 - left)

    def forward(
        self,
        x: Tensor,
        bias: Tensor,
        frame_mask: Tensor,
        rotary: Tensor | None,
        cache: LayerCache | None = None,
    ) -> Tensor:
        """``x [B, T, D]``, ``bias [B or 1, 1, T, T_keys]`` (0 or MASK_BIAS), ``frame_mask
        [B, T, 1]`` (1 on valid frames), ``rotary [T, Dh]`` or None -> ``[B, T, D]``.
        """
        batch, length, width = x.shape
        scale = (width // self.heads) ** -0.25
        q = self.q_proj(x).view(batch, length, self.heads, -1)
        k = self.k_proj(x).view(batch, length, self.heads, -1)
        v = self.v_proj(x).view(batch, length, self.heads, -1)
        if rotary is not None:
            q = apply_rotary(q, rotary)
            k = apply_rotary(k, rotary)
        memory = self._fsmn(v.reshape(batch, length, width), frame_mask, cache)
        q = q.permute(0, 2, 1, 3) * scale
        k = k.permute(0, 2, 1, 3) * scale  # [B, H, T, Dh]
        v = v.permute(0, 2, 1, 3)
        if cache is not None:
            if cache.keys is not None and cache.values is not None:
                k = torch.cat((cache.keys, k), dim=2)
                v = torch.cat((cache.values, v), dim=2)
            cache.keys, cache.values = k, v
        scores = (q @ k.transpose(-1, -2) + bias).float()  # [B, H, T, T_keys]
        weights = torch.softmax(scores, dim=-1).to(q.dtype)
        out = (weights @ v).permute(0, 2, 1, 3).flatten(start_dim=2)
        out = self.o_proj(out)
        return out if memory is None else out + memory

    def _fsmn(self, v: Tensor, frame_mask: Tensor, cache: LayerCache | None) -> Tensor | None:
        """FSMN memory ``(v + dwconv(v)) * mask`` on ``v [B, T, D]``; None without FSMN."""
        if self.fsmn_kernel <= 0:
            return None
        v = v * frame_mask  # padding must look like the zeros a batch of one sees
        left, right = self.fsmn_pad
        seq = v.transpose(1, 2)  # [B, D, T]
        if cache is not None:
            # Streaming is causal (right == 0): the left context comes from earlier chunks.
            past = cache.fsmn_context
            if past is None:
                past = seq.new_zeros(seq.shape[0], seq.shape[1], left)
            seq = torch.cat((past, seq), dim=-1)
            cache.fsmn_context = seq[..., seq.shape[-1] - left :]
            padded = seq
        else:
            padded = F.pad(seq, (left, right))
        memory = self.fsmn(padded).transpose(1, 2)
        memory = memory + v
        return memory * frame_mask


class Block(nn.Module):
    """Pre-norm residual block: ``x + attn(ln(x))``, then ``x + mlp(ln(x))``."""

    def __init__(
        self,
        width: int,
        heads: int,
        mlp_ratio: int,
        fsmn_kernel: int,
        eps: float,
        causal: bool = False,
    ):
        super().__init__()
        self.attn_norm = nn.LayerNorm(width, eps=eps)
        self.attn = Attention(width, heads, fsmn_kernel, causal)
        self.mlp_norm = nn.LayerNorm(width, eps=eps)
        self.fc1 = nn.Linear(width, width * mlp_ratio)
        self.fc2 = nn.Linear(width * mlp_ratio, width)

    def forward(
        self,
        x: Tensor,
        bias: Tensor,
        frame_mask: Tensor,
        rotary: Tensor | None,
        cache: LayerCache | None = None,
    ) -> Tensor:
        """``x [B, T, D]`` -> ``[B, T, D]``; arguments as in `Attention.forward`."""
        x = x + self.attn(self.attn_norm(x), bias, frame_mask, rotary, cache)
        return x + self.fc2(F.gelu(self.fc1(self.mlp_norm(x))))
