"""`S3Model`: our torch implementation of the S3 tokenizer encoders and quantizers.

Shapes: mels ``[B, n_mels, T]`` with valid lengths ``[B]`` -> conv1 (stride 1 or 2) -> conv2
(stride 2) -> ``[B, T', width]`` -> blocks -> quantizer -> codes ``[B, T']``.

Padding is masked everywhere it could leak (conv inputs, attention keys, FSMN inputs), so an
item padded in a batch gets the codes it gets alone. Parameter names are ours; `checkpoint.py`
maps the reference package's names and the official ONNX initializers onto them.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from audiotok.tokenizers.s3.blocks import MASK_BIAS, Block, LayerCache, rotary_table
from audiotok.tokenizers.s3.config import S3Config
from audiotok.tokenizers.s3.quantizers import FiniteScalarQuantizer, VectorQuantizer


def sinusoid_positions(length: int, width: int, max_timescale: float = 10000.0) -> Tensor:
    """Whisper's absolute positions ``[length, width]``: sines then cosines."""
    increment = math.log(max_timescale) / (width // 2 - 1)
    inv_timescales = torch.exp(-increment * torch.arange(width // 2))
    scaled = torch.arange(length)[:, None] * inv_timescales[None, :]
    return torch.cat([torch.sin(scaled), torch.cos(scaled)], dim=1)


def length_mask(lengths: Tensor, total: int) -> Tensor:
    """``[B, total]`` bool, True on each item's first ``lengths[b]`` frames."""
    return torch.arange(total, device=lengths.device)[None, :] < lengths[:, None]


def chunk_mask(length: int, chunk: int, left_chunks: int, device: torch.device) -> Tensor:
    """``[length, length]`` bool: frame i sees frame j iff j's chunk is i's chunk or one of
    the ``left_chunks`` before it (all earlier chunks when ``left_chunks < 0``).
    """
    ids = torch.arange(length, device=device) // chunk
    seen = ids[None, :] <= ids[:, None]
    if left_chunks >= 0:
        seen &= ids[None, :] >= ids[:, None] - left_chunks
    return seen


class S3Model(nn.Module):
    """Encoder + quantizer of one S3 tokenizer (see `S3Config` for the variants)."""

    def __init__(self, config: S3Config):
        super().__init__()
        self.config = config
        k = config.conv_kernel
        # Causal (streaming) convs pad on the left only, by hand; otherwise pad=1 each side
        # inside the conv exactly as the published models do.
        pad = 0 if config.causal else (k - 1) // 2
        self.conv1 = nn.Conv1d(config.n_mels, config.width, k, config.conv1_stride, pad)
        self.conv2 = nn.Conv1d(config.width, config.width, k, config.conv2_stride, pad)
        self.pos_embedding: Tensor | None
        if config.rotary:
            self.register_buffer("pos_embedding", None)
        else:
            table = sinusoid_positions(config.max_positions, config.width)
            self.register_buffer("pos_embedding", table)
        fsmn_kernel = config.fsmn_kernel if config.fsmn else 0
        self.blocks = nn.ModuleList(
            Block(
                config.width,
                config.heads,
                config.mlp_ratio,
                fsmn_kernel,
                config.layer_norm_eps,
                config.causal,
            )
            for _ in range(config.blocks)
        )
        self.quantizer: VectorQuantizer | FiniteScalarQuantizer
        if config.quantizer == "vq":
            self.quantizer = VectorQuantizer(config.width, config.codebook_size)
        else:
            if config.fsq_levels**config.fsq_dims != config.codebook_size:
                raise ValueError("fsq_levels ** fsq_dims must equal codebook_size")
            self.quantizer = FiniteScalarQuantizer(config.width, config.fsq_dims, config.fsq_levels)
        self._rotary_cache: Tensor | None = None

    # ---- pieces shared with the streaming encoder -----------------------------------------
    def rotary(self, start: int, length: int, device: torch.device) -> Tensor | None:
        """Rotary table rows ``start .. start + length`` (None for v1); cached, grown on need."""
        if not self.config.rotary:
            return None
        end = start + length
        cache = self._rotary_cache
        if cache is None or cache.shape[0] < end:
            size = max(end, 2048)  # the reference precomputes 2048 positions
            cache = rotary_table(self.config.head_dim, size, self.config.rotary_theta)
            self._rotary_cache = cache
        return cache[start:end].to(device)

    def positions(self, x: Tensor, start: int) -> Tensor:
        """Add v1's absolute positions ``start ..`` to ``x [B, T, D]``; identity for rotary."""
        if self.pos_embedding is None:
            return x
        end = start + x.shape[1]
        if end > self.pos_embedding.shape[0]:
            raise ValueError(
                f"{end} frames exceed the {self.pos_embedding.shape[0]} positions of this "
                "model; long inputs go through windows (S3Tokenizer does this)"
            )
        return (x + self.pos_embedding[start:end, :]).to(x.dtype)

    def conv_step(
        self, conv: nn.Conv1d, x: Tensor, lengths: Tensor, context: Tensor | None
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        """``gelu(conv(x * mask))`` on ``x [B, C, T]``; returns output, its lengths and (causal
        only) the input frames the next chunk needs as left context.
        """
        x = x * length_mask(lengths, x.shape[-1]).unsqueeze(1).to(x.dtype)
        stride = conv.stride[0]
        next_context = None
        if self.config.causal:
            left = conv.kernel_size[0] - 1
            if context is None:
                context = x.new_zeros(x.shape[0], x.shape[1], left)
            x = torch.cat((context, x), dim=-1)
            next_context = x[..., x.shape[-1] - left :]
        out = F.gelu(conv(x))
        # kernel 3 and 1 frame of padding (either side or both on the left): ceil(L / s).
        out_lengths = (lengths - 1) // stride + 1
        return out, out_lengths, next_context

    def attention_bias(self, lengths: Tensor, length: int) -> Tensor:
        """Additive bias ``[B, 1, 1 or T, T]``: MASK_BIAS on padded keys (and, when causal,
        on keys outside a frame's chunk window)."""
        valid = length_mask(lengths, length)[:, None, None, :]  # [B, 1, 1, T]
        if self.config.causal:
            window = chunk_mask(
                length, self.config.chunk_tokens, self.config.left_chunks, lengths.device
            )
            valid = valid & window[None, None]
        return (1.0 - valid.float()) * MASK_BIAS

    # ---- full pass ------------------------------------------------------------------------
    def encode(self, mels: Tensor, mel_lengths: Tensor) -> tuple[Tensor, Tensor]:
        """``mels [B, n_mels, T]``, ``mel_lengths [B]`` -> ``(hidden [B, T', D], lengths [B])``."""
        mel_lengths = mel_lengths.to(device=mels.device, dtype=torch.long)
        x, lengths, _ = self.conv_step(self.conv1, mels, mel_lengths, None)
        x, lengths, _ = self.conv_step(self.conv2, x, lengths, None)
        x = self.positions(x.permute(0, 2, 1), 0)
        frames = x.shape[1]
        frame_mask = length_mask(lengths, frames).unsqueeze(-1).to(x.dtype)  # [B, T', 1]
        bias = self.attention_bias(lengths, frames)
        rotary = self.rotary(0, frames, x.device)
        for block in self.blocks:
            x = block(x, bias, frame_mask, rotary)
        return x, lengths

    def quantize(self, mels: Tensor, mel_lengths: Tensor) -> tuple[Tensor, Tensor]:
        """``mels [B, n_mels, T]``, ``mel_lengths [B]`` -> ``(codes [B, T'], code_lengths [B])``.

        One pass, no windowing: inputs longer than the training window (30 s) belong in
        `S3Tokenizer`, which splits and merges them. Codes past an item's length are garbage.
        """
        hidden, lengths = self.encode(mels, mel_lengths)
        # Codes are nearest-codeword / rounding decisions: always made in float32, even when
        # the encoder ran under bfloat16 autocast.
        with torch.autocast(hidden.device.type, enabled=False):
            return self.quantizer(hidden.float()), lengths

    def forward(self, mels: Tensor, mel_lengths: Tensor) -> tuple[Tensor, Tensor]:
        return self.quantize(mels, mel_lengths)


__all__ = ["LayerCache", "S3Model", "chunk_mask", "length_mask", "sinusoid_positions"]
