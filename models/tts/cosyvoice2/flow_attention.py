"""The flow encoder's Conformer block: self-attention with relative sinusoidal positions
(Transformer-XL's content and position terms, ESPnet's table) and a SiLU feed-forward, both
pre-norm and residual.

Every call names where its queries sit: they are the last ``n`` of the ``e`` keys (cached keys
first, then this call's), so one code path serves a whole sequence (no cache, ``n == e``) and a
streaming step (a cache of ``e - n`` earlier keys).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

KeyValue = tuple[torch.Tensor, torch.Tensor]
"""One block's attention keys and values, each ``[B, H, t, d_k]``."""


def relative_table(
    queries: int, keys: int, width: int, base: float, device: torch.device | None = None
) -> torch.Tensor:
    """Sinusoids of every query-minus-key offset, ascending: ``[queries + keys - 1, width]``.

    Row ``r`` is the offset ``r - (queries - 1)``, from ``1 - queries`` (the first query and
    the last key) to ``keys - 1`` (the last query and the first key). Even channels are sines
    and odd ones cosines of ``offset * base ** (-2i / width)``, in float32 as the reference
    builds its table (whose negative half is the same formula at negative offsets).
    """
    offsets = torch.arange(1 - queries, keys, dtype=torch.float32, device=device)[:, None]
    channels = torch.arange(0, width, 2, dtype=torch.float32, device=device)
    rates = torch.exp(channels * -(math.log(base) / width))
    angles = offsets * rates  # [R, width / 2]
    table = torch.empty(offsets.shape[0], width, device=device)
    table[:, 0::2] = torch.sin(angles)
    table[:, 1::2] = torch.cos(angles)
    return table


def chunk_mask(
    start: int, queries: int, keys: int, chunk: int | None, device: torch.device | None = None
) -> torch.Tensor:
    """Which keys each query may attend: ``[queries, keys]`` bool.

    Queries sit at positions ``start ...``, keys at ``0 ...``. With ``chunk`` (streaming), a
    query sees every key up to the end of its own chunk (chunks of ``chunk`` positions from 0)
    and no later one; with None, every key.
    """
    if chunk is None:
        return torch.ones(queries, keys, dtype=torch.bool, device=device)
    positions = torch.arange(start, start + queries, device=device)
    ends = (torch.div(positions, chunk, rounding_mode="floor") + 1) * chunk  # [queries]
    return torch.arange(keys, device=device)[None, :] < ends[:, None]


def _relative_index(queries: int, keys: int, device: torch.device) -> torch.Tensor:
    """For query ``i`` (the last ``queries`` of ``keys``) and key ``j``, the row of
    `relative_table` holding their offset: ``i - j + keys - 1``. ``[queries, keys]``."""
    i = torch.arange(queries, device=device)[:, None]
    j = torch.arange(keys, device=device)[None, :]
    return i - j + keys - 1


class RelPositionAttention(nn.Module):
    """Multi-head self-attention whose score adds a learned read of relative positions.

    ``score(i, j) = ((q_i + u) . k_j + (q_i + v) . W p(i - j)) / sqrt(d_k)``: ``u``
    (`content_bias`) and ``v`` (`position_bias`) are per-head vectors, ``p`` the sinusoid of
    the offset (`relative_table`), ``W`` the bias-free `position` projection.
    """

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        if width % heads:
            raise ValueError(f"attention width {width} is not a multiple of {heads} heads")
        self.heads = heads
        self.head_dim = width // heads
        self.query = nn.Linear(width, width)
        self.key = nn.Linear(width, width)
        self.value = nn.Linear(width, width)
        self.out = nn.Linear(width, width)
        self.position = nn.Linear(width, width, bias=False)
        self.content_bias = nn.Parameter(torch.zeros(heads, self.head_dim))
        self.position_bias = nn.Parameter(torch.zeros(heads, self.head_dim))

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, T, H * d_k]`` -> ``[B, H, T, d_k]``."""
        return x.view(x.shape[0], x.shape[1], self.heads, self.head_dim).transpose(1, 2)

    def forward(
        self,
        x: torch.Tensor,
        table: torch.Tensor,
        mask: torch.Tensor,
        past: KeyValue | None = None,
    ) -> tuple[torch.Tensor, KeyValue]:
        """Attend from ``x`` to the cached keys and ``x``'s own.

        Args:
            x: this call's positions ``[B, n, D]``.
            table: `relative_table` for ``n`` queries and ``e`` keys, ``[n + e - 1, D]``.
            mask: which keys each query may attend, ``[B or 1, n, e]`` bool.
            past: keys and values of the ``e - n`` earlier positions, or None.

        Returns:
            ``[B, n, D]`` and the keys and values of all ``e`` positions.
        """
        q = self._split(self.query(x))  # [B, H, n, d_k]
        k = self._split(self.key(x))
        v = self._split(self.value(x))
        if past is not None:
            k = torch.cat([past[0], k], dim=2)  # [B, H, e, d_k]
            v = torch.cat([past[1], v], dim=2)
        n, e = q.shape[2], k.shape[2]
        p = self.position(table).view(-1, self.heads, self.head_dim).transpose(0, 1)  # [H, R, d_k]
        content = torch.matmul(q + self.content_bias[:, None], k.transpose(-2, -1))  # [B, H, n, e]
        by_offset = torch.matmul(q + self.position_bias[:, None], p.transpose(-2, -1))  # [.., R]
        index = _relative_index(n, e, x.device).expand(*by_offset.shape[:2], n, e)
        positional = torch.gather(by_offset, -1, index)  # [B, H, n, e]
        scores = (content + positional) / math.sqrt(self.head_dim)
        scores = scores.masked_fill(~mask[:, None], -math.inf)
        weights = torch.softmax(scores, dim=-1)
        mixed = torch.matmul(weights, v).transpose(1, 2).reshape(x.shape)  # [B, n, D]
        return self.out(mixed), (k, v)


class FeedForward(nn.Module):
    """Position-wise ``D -> F -> D`` with SiLU (the reference's "swish")."""

    def __init__(self, width: int, hidden: int) -> None:
        super().__init__()
        self.expand = nn.Linear(width, hidden)
        self.contract = nn.Linear(hidden, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, T, D]`` -> ``[B, T, D]``."""
        return self.contract(F.silu(self.expand(x)))


class ConformerBlock(nn.Module):
    """Pre-norm attention then pre-norm feed-forward, each added back to its input.

    The official encoder builds its Conformer layers with neither the macaron feed-forward
    nor the convolution module, so a layer is exactly these two residual branches.
    """

    def __init__(self, width: int, heads: int, hidden: int, norm_eps: float) -> None:
        super().__init__()
        self.attention_norm = nn.LayerNorm(width, eps=norm_eps)
        self.attention = RelPositionAttention(width, heads)
        self.ffn_norm = nn.LayerNorm(width, eps=norm_eps)
        self.ffn = FeedForward(width, hidden)

    def forward(
        self,
        x: torch.Tensor,
        table: torch.Tensor,
        mask: torch.Tensor,
        past: KeyValue | None = None,
    ) -> tuple[torch.Tensor, KeyValue]:
        """``x [B, n, D]`` -> ``[B, n, D]`` and the keys/values (see `RelPositionAttention`)."""
        attended, cache = self.attention(self.attention_norm(x), table, mask, past)
        x = x + attended
        return x + self.ffn(self.ffn_norm(x)), cache
