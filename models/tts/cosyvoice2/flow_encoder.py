"""`FlowEncoder`: the flow's upsampling Conformer (CosyVoice 2's ``UpsampleConformerEncoder``),
token embeddings ``[B, T, C]`` -> ``[B, 2T, D]``, two frames per token at the mel rate.

The pipeline, at token rate then at frame rate:

1. `InputProjection` (linear, layer norm, times ``sqrt(D)``);
2. `PreLookahead`: a convolution reading each token and the ``pre_lookahead`` tokens after it,
   then a causal one, added back to the input. At the end of the input the tokens after it are
   zeros; mid-stream the caller passes them as ``context`` (they are not encoded themselves:
   their own output comes with the next piece);
3. ``blocks`` Conformer blocks (`ConformerBlock`);
4. `Upsample`: each token repeated ``upsample_stride`` times, then a causal convolution;
5. a second `InputProjection`, ``up_blocks`` Conformer blocks, a final layer norm.

Positions are relative (`relative_table`), so nothing depends on where a sequence sits in a
padded batch. With ``streaming=True`` the attention is chunk-causal: a position sees every
position up to the end of its chunk (``chunk_tokens`` tokens, ``chunk_tokens * stride`` frames,
counted from 0). Both convolutions only look left except the look-ahead, so a chunk's output
depends on nothing after its end but the look-ahead tokens: `stream_step` computes each piece
once, with the keys and values of the earlier ones cached (`FlowEncoderStream`), where the
official code recomputes the whole prefix for every chunk.

The official ``flow.pt`` holds this module's weights under ``encoder.``; `from_reference_state`
takes them without that prefix (`reference_name` maps our names onto theirs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from audiotok.errors import AudiotokError
from models.tts.cosyvoice2.flow_attention import (
    ConformerBlock,
    KeyValue,
    chunk_mask,
    relative_table,
)
from models.tts.cosyvoice2.state_dicts import load_reference_state, renamed

_WHAT = "flow encoder"  # how errors name this part


class FlowEncoderError(AudiotokError, ValueError):
    """Inputs of the wrong shape, or a stream fed against its contract."""


@dataclass(frozen=True)
class FlowEncoderConfig:
    """Every hyperparameter of the flow encoder (defaults: the official CosyVoice2-0.5B).

    Attributes:
        input_size: token embedding width ``C``.
        width: model width ``D``.
        heads: attention heads (``D / heads`` channels each).
        ffn: feed-forward hidden width.
        blocks: Conformer blocks at token rate.
        up_blocks: Conformer blocks at frame rate (the reference fixes 4).
        upsample_stride: frames per token (the reference fixes 2).
        pre_lookahead: tokens the look-ahead convolution reads after each token.
        lookahead_causal_kernel: width of the causal convolution after it.
        lookahead_slope: the leaky ReLU slope between the two (PyTorch's default).
        chunk_tokens: the streaming attention chunk, in tokens (the official model's
            ``static_chunk_size``; at frame rate it is ``upsample_stride`` times that).
        embed_norm_eps: layer norm epsilon of the two input projections.
        block_norm_eps: layer norm epsilon inside the Conformer blocks.
        final_norm_eps: epsilon of the final layer norm.
        position_base: the sinusoids' wavelength base.
    """

    input_size: int = 512
    width: int = 512
    heads: int = 8
    ffn: int = 2048
    blocks: int = 6
    up_blocks: int = 4
    upsample_stride: int = 2
    pre_lookahead: int = 3
    lookahead_causal_kernel: int = 3
    lookahead_slope: float = 0.01
    chunk_tokens: int = 25
    embed_norm_eps: float = 1e-5
    block_norm_eps: float = 1e-12
    final_norm_eps: float = 1e-5
    position_base: float = 10000.0

    def __post_init__(self) -> None:
        if self.width % self.heads:
            raise ValueError(f"flow encoder: width {self.width} not divisible by {self.heads}")
        counts = {
            "upsample_stride": self.upsample_stride,
            "pre_lookahead": self.pre_lookahead,
            "lookahead_causal_kernel": self.lookahead_causal_kernel,
            "chunk_tokens": self.chunk_tokens,
        }
        for name, value in counts.items():
            if value < 1:
                raise ValueError(f"flow encoder: {name} must be at least 1, got {value}")

    @property
    def chunk_frames(self) -> int:
        """The streaming attention chunk at frame rate."""
        return self.chunk_tokens * self.upsample_stride

    @property
    def upsample_kernel(self) -> int:
        """The upsampling convolution's width: the frame and ``2 * stride`` frames before it
        (two tokens back)."""
        return 2 * self.upsample_stride + 1


def cosyvoice2() -> FlowEncoderConfig:
    """The official CosyVoice2-0.5B flow encoder (``cosyvoice2.yaml``)."""
    return FlowEncoderConfig()


def debug() -> FlowEncoderConfig:
    """A tiny encoder for tests: width 32, 2 heads, 2 + 2 blocks, the official chunking."""
    return FlowEncoderConfig(input_size=32, width=32, heads=2, ffn=64, blocks=2, up_blocks=2)


PRESETS = {"cosyvoice2": cosyvoice2, "debug": debug}


@dataclass
class FlowEncoderStream:
    """One request's streaming state (batch 1): what later pieces need of the earlier ones.

    Memory: every position keeps its keys and values in every block, so a token costs
    ``2 * D * (blocks + upsample_stride * up_blocks)`` numbers (official model: 14,336, i.e.
    56 KiB per token in float32, 1.4 MiB a second of speech at 25 tokens/s), plus a fixed
    ``(lookahead_causal_kernel - 1 + 2 * upsample_stride) * D`` for the convolutions.

    Attributes:
        lookahead_tail: the look-ahead convolution's outputs at the last
            ``lookahead_causal_kernel - 1`` tokens ``[1, K - 1, D]`` (zeros before the start).
        upsample_tail: the last ``2 * stride`` repeated frames ``[1, 2s, D]`` (zeros at first).
        token_cache: per token-rate block, keys and values ``[1, H, tokens, D / H]``.
        frame_cache: per frame-rate block, keys and values ``[1, H, stride * tokens, D / H]``.
        tokens: tokens encoded so far (the next piece's first position).
        finished: the last piece (no context) has been encoded.
    """

    lookahead_tail: torch.Tensor
    upsample_tail: torch.Tensor
    token_cache: list[KeyValue] = field(default_factory=list)
    frame_cache: list[KeyValue] = field(default_factory=list)
    tokens: int = 0
    finished: bool = False


class InputProjection(nn.Module):
    """``[B, T, C]`` -> ``[B, T, D]``: linear, layer norm, scaled by ``sqrt(D)`` (the scale a
    sinusoidal embedding would be added at; here positions enter the attention instead)."""

    def __init__(self, inputs: int, width: int, eps: float) -> None:
        super().__init__()
        self.linear = nn.Linear(inputs, width)
        self.norm = nn.LayerNorm(width, eps=eps)
        self.scale = math.sqrt(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.linear(x)) * self.scale


class PreLookahead(nn.Module):
    """Each token mixed with the ``P`` after it (``ahead``, leaky ReLU), then with the
    ``K - 1`` before it (``causal``), added back to the token."""

    def __init__(self, width: int, lookahead: int, causal_kernel: int, slope: float) -> None:
        super().__init__()
        self.lookahead = lookahead
        self.slope = slope
        self.ahead = nn.Conv1d(width, width, kernel_size=lookahead + 1)
        self.causal = nn.Conv1d(width, width, kernel_size=causal_kernel)

    def forward(
        self, window: torch.Tensor, tail: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Args:
            window: the ``T`` tokens, then the ``P`` after them (zeros past the end)
                ``[B, T + P, D]``.
            tail: ``ahead``'s outputs at the ``K - 1`` tokens before these ``[B, K - 1, D]``.

        Returns:
            ``[B, T, D]`` and the new tail.
        """
        ahead = F.leaky_relu(self.ahead(window.transpose(1, 2)), self.slope)  # [B, D, T]
        history = torch.cat([tail.transpose(1, 2), ahead], dim=2)  # [B, D, K - 1 + T]
        mixed = self.causal(history).transpose(1, 2)  # [B, T, D]
        new_tail = history[:, :, history.shape[2] - tail.shape[1] :].transpose(1, 2)
        tokens = window.shape[1] - self.lookahead
        return window[:, :tokens] + mixed, new_tail


class Upsample(nn.Module):
    """Each token repeated ``stride`` times, then a causal convolution over the repeated
    frames (the frame and the ``2 * stride`` before it)."""

    def __init__(self, width: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        self.conv = nn.Conv1d(width, width, kernel_size=2 * stride + 1)

    def forward(self, x: torch.Tensor, tail: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x [B, T, D]``, ``tail`` the ``2 * stride`` repeated frames before it
        ``[B, 2s, D]`` -> ``[B, stride * T, D]`` and the new tail."""
        repeated = torch.repeat_interleave(x, self.stride, dim=1)  # [B, sT, D]
        history = torch.cat([tail, repeated], dim=1)  # [B, 2s + sT, D]
        frames = self.conv(history.transpose(1, 2)).transpose(1, 2)
        return frames, history[:, history.shape[1] - tail.shape[1] :]


class FlowEncoder(nn.Module):
    """Token embeddings -> frame-rate features (see the module docstring)."""

    def __init__(self, config: FlowEncoderConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.embed = InputProjection(c.input_size, c.width, c.embed_norm_eps)
        self.lookahead = PreLookahead(
            c.width, c.pre_lookahead, c.lookahead_causal_kernel, c.lookahead_slope
        )
        self.blocks = nn.ModuleList(
            ConformerBlock(c.width, c.heads, c.ffn, c.block_norm_eps) for _ in range(c.blocks)
        )
        self.upsample = Upsample(c.width, c.upsample_stride)
        self.up_embed = InputProjection(c.width, c.width, c.embed_norm_eps)
        self.up_blocks = nn.ModuleList(
            ConformerBlock(c.width, c.heads, c.ffn, c.block_norm_eps) for _ in range(c.up_blocks)
        )
        self.final_norm = nn.LayerNorm(c.width, eps=c.final_norm_eps)

    def forward(
        self,
        x: torch.Tensor,
        lengths: torch.Tensor,
        context: torch.Tensor | None = None,
        streaming: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode a right-padded batch; each item as if alone.

        Args:
            x: token embeddings ``[B, T, C]``, item ``b`` valid up to ``lengths[b]``.
            lengths: ``[B]``, each in ``1 .. T``.
            context: the ``pre_lookahead`` tokens after each item ``[B, P, C]`` (the input
                stops mid-sequence), or None (it ends there: zeros after).
            streaming: chunk-causal attention (see the module docstring); else full.

        Returns:
            ``h [B, stride * T, D]`` (zeros past each item's frames) and its lengths
            ``stride * lengths``.
        """
        self._check_batch(x, lengths, context)
        c = self.config
        tokens = x.shape[1]
        valid = torch.arange(tokens, device=x.device)[None] < lengths[:, None]  # [B, T]
        h = self.embed(x)
        window = self._lookahead_window(h * valid[..., None], lengths, context)
        h, _ = self.lookahead(
            window, h.new_zeros(h.shape[0], c.lookahead_causal_kernel - 1, c.width)
        )
        h, _ = self._attend(self.blocks, h, [], 0, c.chunk_tokens if streaming else None, valid)
        h, _ = self.upsample(h, h.new_zeros(h.shape[0], 2 * c.upsample_stride, c.width))
        h_lengths = lengths * c.upsample_stride
        frame_valid = torch.arange(h.shape[1], device=x.device)[None] < h_lengths[:, None]
        chunk = c.chunk_frames if streaming else None
        h, _ = self._attend(self.up_blocks, self.up_embed(h), [], 0, chunk, frame_valid)
        return self.final_norm(h) * frame_valid[..., None], h_lengths

    def start_stream(self) -> FlowEncoderStream:
        """A fresh request's streaming state (on this module's device and dtype)."""
        c = self.config
        weight = self.final_norm.weight
        return FlowEncoderStream(
            lookahead_tail=weight.new_zeros(1, c.lookahead_causal_kernel - 1, c.width),
            upsample_tail=weight.new_zeros(1, 2 * c.upsample_stride, c.width),
        )

    def stream_step(
        self, state: FlowEncoderStream, x: torch.Tensor, context: torch.Tensor | None
    ) -> torch.Tensor:
        """Encode the next piece of a request's tokens, chunk-causally (``streaming=True``).

        The pieces' concatenated outputs equal `forward` with ``streaming=True`` over the
        whole sequence. Every piece but the last must end on a multiple of ``chunk_tokens``
        counted from the sequence's first token (the prompt's included), and bring its
        ``context``; the last brings None.

        Args:
            state: from `start_stream`; updated in place.
            x: the piece's token embeddings ``[1, n, C]``.
            context: the ``pre_lookahead`` tokens after the piece ``[1, P, C]``, or None at
                the end of the input.

        Returns:
            the piece's frames ``[1, stride * n, D]``.

        Raises:
            FlowEncoderError: the stream is finished, a shape is wrong, or a piece with
                context does not end on a chunk boundary.
        """
        self._check_piece(state, x, context)
        c = self.config
        state.finished = context is None
        if x.shape[1] == 0:
            return x.new_zeros(1, 0, c.width)
        h = self.embed(x)
        after = h.new_zeros(1, c.pre_lookahead, c.width) if context is None else self.embed(context)
        h, state.lookahead_tail = self.lookahead(torch.cat([h, after], dim=1), state.lookahead_tail)
        h, state.token_cache = self._attend(
            self.blocks, h, state.token_cache, state.tokens, c.chunk_tokens
        )
        h, state.upsample_tail = self.upsample(h, state.upsample_tail)
        h, state.frame_cache = self._attend(
            self.up_blocks,
            self.up_embed(h),
            state.frame_cache,
            state.tokens * c.upsample_stride,
            c.chunk_frames,
        )
        state.tokens += x.shape[1]
        return self.final_norm(h)

    def _attend(
        self,
        blocks: nn.ModuleList,
        h: torch.Tensor,
        caches: list[KeyValue],
        start: int,
        chunk: int | None,
        valid: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, list[KeyValue]]:
        """Run a stack of blocks on positions ``start .. start + n`` of ``h [B, n, D]`` after
        the ``start`` cached ones (``caches``: one per block, or empty when ``start == 0``).

        ``valid [B, n]`` marks real positions of a padded batch (None: all real)."""
        queries = h.shape[1]
        keys = start + queries
        table = relative_table(
            queries, keys, self.config.width, self.config.position_base, h.device
        ).to(h.dtype)
        mask = chunk_mask(start, queries, keys, chunk, h.device)[None]  # [1, n, e]
        if valid is not None:
            mask = mask & valid[:, None, :]  # padding is never a key
        new_caches = []
        for index, block in enumerate(blocks):
            h, cache = block(h, table, mask, caches[index] if caches else None)
            new_caches.append(cache)
        return h, new_caches

    def _lookahead_window(
        self, h: torch.Tensor, lengths: torch.Tensor, context: torch.Tensor | None
    ) -> torch.Tensor:
        """``h [B, T, D]`` (zero past each length) with each item's ``P`` following tokens
        right after its own end: ``[B, T + P, D]``; zeros where there is no context."""
        window = F.pad(h, (0, 0, 0, self.config.pre_lookahead))
        if context is None:
            return window
        after = self.embed(context)  # [B, P, D]
        offsets = torch.arange(after.shape[1], device=h.device)
        index = (lengths[:, None] + offsets[None])[..., None].expand_as(after)
        return window.scatter(1, index, after)

    def _check_batch(
        self, x: torch.Tensor, lengths: torch.Tensor, context: torch.Tensor | None
    ) -> None:
        c = self.config
        if x.dim() != 3 or x.shape[2] != c.input_size:
            raise FlowEncoderError(
                f"flow encoder input: want [B, T, {c.input_size}], got {tuple(x.shape)}"
            )
        if lengths.shape != (x.shape[0],):
            raise FlowEncoderError(
                f"flow encoder lengths: want [{x.shape[0]}], got {tuple(lengths.shape)}"
            )
        if x.shape[0] and (int(lengths.min()) < 1 or int(lengths.max()) > x.shape[1]):
            raise FlowEncoderError(
                f"flow encoder lengths must lie in 1..{x.shape[1]}, got {lengths.tolist()}"
            )
        want = (x.shape[0], c.pre_lookahead, c.input_size)
        if context is not None and tuple(context.shape) != want:
            raise FlowEncoderError(
                f"flow encoder context: want {list(want)}, got {tuple(context.shape)}"
            )

    def _check_piece(
        self, state: FlowEncoderStream, x: torch.Tensor, context: torch.Tensor | None
    ) -> None:
        c = self.config
        if state.finished:
            raise FlowEncoderError("flow encoder stream: the last piece was already encoded")
        if x.dim() != 3 or x.shape[0] != 1 or x.shape[2] != c.input_size:
            raise FlowEncoderError(
                f"flow encoder piece: want [1, n, {c.input_size}], got {tuple(x.shape)}"
            )
        if context is None:
            return
        want = (1, c.pre_lookahead, c.input_size)
        if tuple(context.shape) != want:
            raise FlowEncoderError(
                f"flow encoder context: want {list(want)}, got {tuple(context.shape)}"
            )
        end = state.tokens + x.shape[1]
        if end % c.chunk_tokens:
            raise FlowEncoderError(
                f"flow encoder stream: a piece with context must end on a multiple of "
                f"{c.chunk_tokens} tokens; this one ends at {end}"
            )

    def reference_state(self) -> dict[str, torch.Tensor]:
        """This module's weights under the reference's names (`reference_name`)."""
        return {reference_name(key): value for key, value in self.state_dict().items()}

    @classmethod
    def from_reference_state(
        cls, state: dict[str, torch.Tensor], config: FlowEncoderConfig
    ) -> FlowEncoder:
        """Build from the reference encoder's ``state_dict()`` (the official ``flow.pt``'s
        ``encoder.*`` entries, prefix removed). Strict: every key used, none missing.

        Raises:
            ValueError: keys are missing or unexpected (the message lists them).
        """
        return load_reference_state(cls(config), state, reference_name, _WHAT).eval()


_TOP_NAMES = (  # ours -> the reference's, by key prefix
    ("embed.linear.", "embed.out.0."),
    ("embed.norm.", "embed.out.1."),
    ("lookahead.ahead.", "pre_lookahead_layer.conv1."),
    ("lookahead.causal.", "pre_lookahead_layer.conv2."),
    ("upsample.conv.", "up_layer.conv."),
    ("up_embed.linear.", "up_embed.out.0."),
    ("up_embed.norm.", "up_embed.out.1."),
    ("final_norm.", "after_norm."),
)
_STACK_NAMES = {"blocks": "encoders", "up_blocks": "up_encoders"}
_BLOCK_NAMES = (
    ("attention_norm.", "norm_mha."),
    ("attention.query.", "self_attn.linear_q."),
    ("attention.key.", "self_attn.linear_k."),
    ("attention.value.", "self_attn.linear_v."),
    ("attention.out.", "self_attn.linear_out."),
    ("attention.position.", "self_attn.linear_pos."),
    ("attention.content_bias", "self_attn.pos_bias_u"),
    ("attention.position_bias", "self_attn.pos_bias_v"),
    ("ffn_norm.", "norm_ff."),
    ("ffn.expand.", "feed_forward.w_1."),
    ("ffn.contract.", "feed_forward.w_2."),
)


def reference_name(key: str) -> str:
    """A `FlowEncoder` state dict key -> the reference ``UpsampleConformerEncoder``'s."""
    stack, _, rest = key.partition(".")
    if stack in _STACK_NAMES:
        index, _, inner = rest.partition(".")
        return f"{_STACK_NAMES[stack]}.{index}.{renamed(inner, _BLOCK_NAMES, _WHAT)}"
    return renamed(key, _TOP_NAMES, _WHAT)
