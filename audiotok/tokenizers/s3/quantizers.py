"""The two S3 quantizers: VQ (v1) and FSQ (v2, v3). Inference only, no decoding.

Both follow the published float arithmetic: the VQ scores ``-(|x|^2 - 2 x.e + |e|^2)`` (not
an equivalent expression) and the FSQ scales ``tanh`` by the float32 constant 0.999 before
rounding, so ties and rounding boundaries fall where they fall in the official graphs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# tanh * 0.999 keeps values strictly inside (-1, 1), so round() gives one of -1, 0, 1;
# this is the float32 value of the constant in the official v2/v3 graphs.
FSQ_SHRINK = 0.9990000128746033


class VectorQuantizer(nn.Module):
    """Nearest codeword to the L2-normalised frame (codewords are not normalised).

    ``codebook [codebook_size, width]``.
    """

    def __init__(self, width: int, codebook_size: int):
        super().__init__()
        self.codebook = nn.Parameter(torch.zeros(codebook_size, width))

    def forward(self, hidden: Tensor) -> Tensor:
        """``hidden [B, T, D]`` -> codes ``[B, T]`` (int64)."""
        batch, length, width = hidden.shape
        x = F.normalize(hidden.float(), p=2, dim=-1).reshape(-1, width)
        embed = self.codebook.t().to(x.dtype)
        score = -(x.pow(2).sum(1, keepdim=True) - 2 * x @ embed + embed.pow(2).sum(0, keepdim=True))
        return score.max(dim=-1).indices.view(batch, length)


class FiniteScalarQuantizer(nn.Module):
    """Project to ``dims`` values, squash to ``{-1, 0, 1}`` (``levels`` = 3), read base 3.

    Code = ``sum_i (round(0.999 * tanh(proj(x))_i) + 1) * levels ** i``.
    """

    def __init__(self, width: int, dims: int, levels: int):
        super().__init__()
        if levels != 3:
            raise ValueError(f"the S3 FSQ rounds tanh to -1/0/1, i.e. 3 levels; got {levels}")
        self.levels = levels
        self.proj = nn.Linear(width, dims)

    def forward(self, hidden: Tensor) -> Tensor:
        """``hidden [B, T, D]`` -> codes ``[B, T]`` (int64)."""
        batch, length, width = hidden.shape
        h = self.proj(hidden.reshape(-1, width)).float()
        digits = (h.tanh() * FSQ_SHRINK).round() + 1  # 0, 1 or 2
        powers = torch.pow(self.levels, torch.arange(h.shape[-1], device=h.device, dtype=h.dtype))
        codes = torch.sum(digits * powers.unsqueeze(0), dim=-1)
        return codes.reshape(batch, length).long()
