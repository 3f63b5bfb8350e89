"""`CausalEstimator`: the flow's vector-field network (CosyVoice 2's ``CausalConditionalDecoder``),
a one-level 1-D U-Net over mel frames, ``[B, M, T] -> [B, M, T]``.

Its input is four ``M``-channel streams stacked on channels: the current sample ``x``, the
condition ``mu`` (the encoder's output), the speaker vector repeated over time and the prompt
mel ``cond`` (zeros past the prompt). The flow-matching time ``t`` enters through a sinusoidal
embedding and an MLP added inside every residual block. The layout, at one frame rate:

1. ``down``: a residual block (two causal conv -> layer norm -> Mish blocks), ``blocks``
   transformer blocks; its output is kept as the skip; then a causal convolution;
2. ``mid_blocks`` stages of a residual block and ``blocks`` transformer blocks;
3. ``up``: the mid output and the skip stacked on channels, a residual block, transformer
   blocks, a causal convolution;
4. ``final``: a causal conv block and a 1x1 projection to ``M`` channels.

Everything but attention is per frame or looks only left (every convolution is causal), and
the streaming attention is chunk-causal: a frame sees every frame up to the end of its chunk
(``chunk_frames``, counted from frame 0). So a chunk's output depends on nothing after it, and
`stream` computes a piece of new frames from an `EstimatorMemory` of the earlier ones: each
causal convolution's last ``kernel - 1`` input frames and each attention layer's keys and
values (or its inputs, re-projected: see `EstimatorMemory`).

The official ``flow.pt`` holds these weights under ``decoder.estimator.``; `from_reference_state`
takes them without that prefix (`reference_name` maps our names onto theirs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from models.tts.cosyvoice2.flow_attention import chunk_mask
from models.tts.cosyvoice2.state_dicts import load_reference_state, renamed

ACTIVATIONS = {"gelu": "none", "gelu-approximate": "tanh"}  # name -> F.gelu's ``approximate``
CACHE_KINDS = ("inputs", "kv")


@dataclass(frozen=True)
class EstimatorConfig:
    """Every hyperparameter of the estimator (defaults: the official CosyVoice2-0.5B).

    Attributes:
        mel_bins: channels ``M`` of each input stream and of the output.
        channels: the U-Net's widths per level; the official model has one level, and only
            one is supported (more levels resample time, which the chunked streaming and the
            causal convolutions cannot follow).
        heads, head_dim: attention heads and channels per head (``heads * head_dim`` need not
            equal the width: 8 x 64 = 512 against 256 in the official model).
        blocks: transformer blocks after each residual block.
        mid_blocks: middle stages.
        ff_mult: the feed-forward's hidden width, in multiples of the width.
        activation: the feed-forward's GELU (``gelu`` exact, ``gelu-approximate`` tanh).
        kernel: width of every causal convolution.
        time_mult: the time embedding's width, in multiples of the first level's width.
        time_scale: ``t`` in [0, 1] is multiplied by this before the sinusoids.
        time_base: the sinusoids' wavelength base.
        norm_eps: epsilon of every layer norm.
        chunk_frames: the streaming attention chunk (the official ``static_chunk_size``);
            every earlier chunk stays visible (the reference's ``num_decoding_left_chunks``
            has no effect on its own chunk mask).
    """

    mel_bins: int = 80
    channels: tuple[int, ...] = (256,)
    heads: int = 8
    head_dim: int = 64
    blocks: int = 4
    mid_blocks: int = 12
    ff_mult: int = 4
    activation: str = "gelu"
    kernel: int = 3
    time_mult: int = 4
    time_scale: float = 1000.0
    time_base: float = 10000.0
    norm_eps: float = 1e-5
    chunk_frames: int = 50

    def __post_init__(self) -> None:
        if len(self.channels) != 1:
            raise ValueError(
                f"flow estimator: one U-Net level is supported, got channels {self.channels}"
            )
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"flow estimator: activation {self.activation!r} is not one of "
                f"{', '.join(ACTIVATIONS)}"
            )
        if self.in_channels % 2:
            raise ValueError("flow estimator: the time embedding needs an even input width")
        counts = {
            "mel_bins": self.mel_bins,
            "width": self.width,
            "heads": self.heads,
            "head_dim": self.head_dim,
            "kernel": self.kernel,
            "chunk_frames": self.chunk_frames,
        }
        for name, value in counts.items():
            if value < 1:
                raise ValueError(f"flow estimator: {name} must be at least 1, got {value}")

    @property
    def width(self) -> int:
        return self.channels[0]

    @property
    def in_channels(self) -> int:
        """``x``, ``mu``, the speaker vector and ``cond``, stacked."""
        return 4 * self.mel_bins

    @property
    def inner(self) -> int:
        """The attention's query/key/value width."""
        return self.heads * self.head_dim

    @property
    def time_width(self) -> int:
        return self.time_mult * self.width

    @property
    def attention_layers(self) -> int:
        """Transformer blocks in all: down, middle and up stages."""
        return (2 + self.mid_blocks) * self.blocks


def cosyvoice2() -> EstimatorConfig:
    """The official CosyVoice2-0.5B estimator (``cosyvoice2.yaml``)."""
    return EstimatorConfig()


def debug() -> EstimatorConfig:
    """A tiny estimator for tests: width 32, 2 heads of 8, 1 block per stage, 2 middle stages,
    the official mel width and chunking."""
    return EstimatorConfig(channels=(32,), heads=2, head_dim=8, blocks=1, mid_blocks=2)


PRESETS = {"cosyvoice2": cosyvoice2, "debug": debug}


@dataclass
class AttentionMemory:
    """One attention layer's record of the earlier frames: their keys and values
    ``[B, H, t, d]`` each, or (``inputs``) the layer's normalised inputs ``[B, t, D]``."""

    keys: torch.Tensor | None = None
    values: torch.Tensor | None = None
    inputs: torch.Tensor | None = None

    def nbytes(self) -> int:
        held = (self.keys, self.values, self.inputs)
        return sum(t.numel() * t.element_size() for t in held if t is not None)


@dataclass
class EstimatorMemory:
    """What one sequence of `CausalEstimator.stream` calls (one Euler step of one request,
    both guidance branches as its batch) keeps of the frames before the next piece.

    The attention layers dominate. Per frame and per call sequence, ``"kv"`` keeps
    ``2 * heads * head_dim`` numbers per layer and ``"inputs"`` keeps ``width`` (the layer
    norm's output, from which keys and values are re-projected at every piece: a quarter of
    the memory for the official sizes, at the cost of that projection over the whole prefix).
    The convolutions add a fixed ``kernel - 1`` frames each.

    Attributes:
        cache: ``"kv"`` or ``"inputs"``.
        frames: frames seen so far.
        conv_tails: per causal convolution, its last ``kernel - 1`` input frames
            ``[B, C, kernel - 1]`` (None before the first piece: zeros).
        attention: per attention layer, in the order of `CausalEstimator.attention_layers`.
    """

    cache: str = "inputs"
    frames: int = 0
    conv_tails: list[torch.Tensor | None] = field(default_factory=list)
    attention: list[AttentionMemory] = field(default_factory=list)

    def nbytes(self) -> int:
        tails = sum(t.numel() * t.element_size() for t in self.conv_tails if t is not None)
        return tails + sum(a.nbytes() for a in self.attention)


_WHAT = "flow estimator"  # how errors name this part


class CausalConv(nn.Conv1d):
    """A stride-1 convolution that sees its frame and the ``kernel - 1`` before it:
    ``[B, C, n] -> [B, C', n]``. Before the first frame it sees ``tail`` (zeros if None)."""

    def __init__(self, inputs: int, outputs: int, kernel: int) -> None:
        super().__init__(inputs, outputs, kernel)
        self.slot = 0  # index into `EstimatorMemory.conv_tails`, set by the estimator

    def forward(self, x: torch.Tensor, memory: EstimatorMemory | None = None) -> torch.Tensor:
        left = self.kernel_size[0] - 1
        tail = memory.conv_tails[self.slot] if memory is not None else None
        if tail is None:
            tail = x.new_zeros(x.shape[0], x.shape[1], left)
        window = torch.cat([tail, x], dim=2)  # [B, C, left + n]
        if memory is not None:
            memory.conv_tails[self.slot] = window[:, :, window.shape[2] - left :]
        return super().forward(window)


class ConvBlock(nn.Module):
    """Causal convolution, layer norm over channels, Mish; zero outside ``mask``:
    ``[B, C, n] -> [B, C', n]``."""

    def __init__(self, inputs: int, outputs: int, config: EstimatorConfig) -> None:
        super().__init__()
        self.conv = CausalConv(inputs, outputs, config.kernel)
        self.norm = nn.LayerNorm(outputs, eps=config.norm_eps)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor, memory: EstimatorMemory | None
    ) -> torch.Tensor:
        h = self.conv(x * mask, memory)
        h = self.norm(h.transpose(1, 2)).transpose(1, 2)
        return F.mish(h) * mask


class ResnetBlock(nn.Module):
    """Two conv blocks with the time embedding added between them, plus a 1x1 skip:
    ``[B, C, n] -> [B, C', n]``."""

    def __init__(self, inputs: int, outputs: int, config: EstimatorConfig) -> None:
        super().__init__()
        self.block1 = ConvBlock(inputs, outputs, config)
        self.time_proj = nn.Linear(config.time_width, outputs)
        self.block2 = ConvBlock(outputs, outputs, config)
        self.skip = nn.Conv1d(inputs, outputs, 1)

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor,
        time: torch.Tensor,
        memory: EstimatorMemory | None,
    ) -> torch.Tensor:
        """``time``: the time embedding ``[B, E]``."""
        h = self.block1(x, mask, memory)
        h = h + self.time_proj(F.mish(time))[:, :, None]
        h = self.block2(h, mask, memory)
        return h + self.skip(x * mask)


class SelfAttention(nn.Module):
    """Multi-head attention of a piece's frames over the earlier ones and themselves:
    ``[B, n, D] -> [B, n, D]``."""

    def __init__(self, config: EstimatorConfig) -> None:
        super().__init__()
        self.heads = config.heads
        self.query = nn.Linear(config.width, config.inner, bias=False)
        self.key = nn.Linear(config.width, config.inner, bias=False)
        self.value = nn.Linear(config.width, config.inner, bias=False)
        self.out = nn.Linear(config.inner, config.width)
        self.slot = 0  # index into `EstimatorMemory.attention`, set by the estimator

    def forward(
        self, h: torch.Tensor, visible: torch.Tensor, memory: EstimatorMemory | None
    ) -> torch.Tensor:
        """``visible [B | 1, 1, n, e]``: which of the ``e`` keys (the earlier frames, then
        the piece's) each query may attend."""
        q = self._split(self.query(h))  # [B, H, n, d]
        k, v = self._keys_values(h, memory)  # [B, H, e, d] each
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=visible)
        return self.out(out.transpose(1, 2).flatten(2))  # [B, n, H * d] -> [B, n, D]

    def _keys_values(
        self, h: torch.Tensor, memory: EstimatorMemory | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if memory is None:
            return self._split(self.key(h)), self._split(self.value(h))
        held = memory.attention[self.slot]
        if memory.cache == "inputs":
            held.inputs = h if held.inputs is None else torch.cat([held.inputs, h], dim=1)
            return self._split(self.key(held.inputs)), self._split(self.value(held.inputs))
        k, v = self._split(self.key(h)), self._split(self.value(h))
        held.keys = k if held.keys is None else torch.cat([held.keys, k], dim=2)
        held.values = v if held.values is None else torch.cat([held.values, v], dim=2)
        return held.keys, held.values

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, t, H * d] -> [B, H, t, d]``."""
        return x.unflatten(2, (self.heads, -1)).transpose(1, 2)


class FeedForward(nn.Module):
    """``[B, n, D] -> [B, n, D]``: expand, GELU, contract."""

    def __init__(self, config: EstimatorConfig) -> None:
        super().__init__()
        self.expand = nn.Linear(config.width, config.ff_mult * config.width)
        self.contract = nn.Linear(config.ff_mult * config.width, config.width)
        self.approximate = ACTIVATIONS[config.activation]

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.contract(F.gelu(self.expand(h), approximate=self.approximate))


class TransformerBlock(nn.Module):
    """Pre-norm self-attention and feed-forward, each residual: ``[B, n, D] -> [B, n, D]``."""

    def __init__(self, config: EstimatorConfig) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(config.width, eps=config.norm_eps)
        self.attn = SelfAttention(config)
        self.norm2 = nn.LayerNorm(config.width, eps=config.norm_eps)
        self.ff = FeedForward(config)

    def forward(
        self, h: torch.Tensor, visible: torch.Tensor, memory: EstimatorMemory | None
    ) -> torch.Tensor:
        h = self.attn(self.norm1(h), visible, memory) + h
        return self.ff(self.norm2(h)) + h


class Stage(nn.Module):
    """A residual block, then transformer blocks: ``[B, C, n] -> [B, D, n]``."""

    def __init__(self, inputs: int, config: EstimatorConfig) -> None:
        super().__init__()
        self.resnet = ResnetBlock(inputs, config.width, config)
        self.transformers = nn.ModuleList(TransformerBlock(config) for _ in range(config.blocks))

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor,
        time: torch.Tensor,
        visible: torch.Tensor,
        memory: EstimatorMemory | None,
    ) -> torch.Tensor:
        h = self.resnet(x, mask, time, memory).transpose(1, 2)  # [B, n, D]
        for block in self.transformers:
            h = block(h, visible, memory)
        return h.transpose(1, 2)


class TimeEmbedding(nn.Module):
    """Flow time ``t [B]`` -> ``[B, E]``: sinusoids of ``time_scale * t``, then an MLP."""

    def __init__(self, config: EstimatorConfig) -> None:
        super().__init__()
        # sine/cosine pairs; not ``half``, which would hide `nn.Module.half` (the dtype cast)
        self.pairs = config.in_channels // 2
        self.base = config.time_base
        self.scale = config.time_scale
        self.fc1 = nn.Linear(config.in_channels, config.time_width)
        self.fc2 = nn.Linear(config.time_width, config.time_width)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        # The rates are float32 whatever the model's dtype, as in the reference.
        steps = torch.arange(self.pairs, device=t.device).float()
        rates = torch.exp(steps * -(math.log(self.base) / (self.pairs - 1)))
        angles = (self.scale * t)[:, None] * rates[None]  # [B, in / 2]
        sinusoids = torch.cat([angles.sin(), angles.cos()], dim=1).to(t.dtype)
        return self.fc2(F.silu(self.fc1(sinusoids)))


class CausalEstimator(nn.Module):
    """The vector field ``v(x, t | mu, spks, cond)`` (see the module docstring)."""

    def __init__(self, config: EstimatorConfig) -> None:
        super().__init__()
        self.config = config
        width = config.width
        self.time = TimeEmbedding(config)
        self.down = Stage(config.in_channels, config)
        self.down_conv = CausalConv(width, width, config.kernel)
        self.mid = nn.ModuleList(Stage(width, config) for _ in range(config.mid_blocks))
        self.up = Stage(2 * width, config)
        self.up_conv = CausalConv(width, width, config.kernel)
        self.final = ConvBlock(width, width, config)
        self.out = nn.Conv1d(width, config.mel_bins, 1)
        self.convs = [m for m in self.modules() if isinstance(m, CausalConv)]
        self.attention_layers = [m for m in self.modules() if isinstance(m, SelfAttention)]
        for slot, conv in enumerate(self.convs):
            conv.slot = slot
        for slot, attention in enumerate(self.attention_layers):
            attention.slot = slot

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor,
        mu: torch.Tensor,
        t: torch.Tensor,
        spks: torch.Tensor,
        cond: torch.Tensor,
        streaming: bool = False,
    ) -> torch.Tensor:
        """The field over whole (right-padded) sequences.

        Args:
            x, mu, cond: ``[B, M, T]``.
            mask: 1 on real frames, 0 on padding ``[B, 1, T]``.
            t: flow time per item ``[B]``.
            spks: the projected speaker vectors ``[B, M]``.
            streaming: chunk-causal attention (``chunk_frames``) instead of full attention.

        Returns:
            ``[B, M, T]``, zero on padding.
        """
        frames = x.shape[2]
        visible = chunk_mask(0, frames, frames, self._chunk(streaming), x.device)[None]
        visible = visible & mask.bool()  # padding is never a key: [B, T, T]
        # A query row with no key at all (an empty item) attends to everything instead, as
        # the reference does; its output is masked anyway.
        visible = visible | ~visible.any(dim=2, keepdim=True)
        return self._run(x, mask, mu, t, spks, cond, visible[:, None], None)

    def stream(
        self,
        x: torch.Tensor,
        mu: torch.Tensor,
        t: torch.Tensor,
        spks: torch.Tensor,
        cond: torch.Tensor,
        memory: EstimatorMemory,
    ) -> torch.Tensor:
        """The field (chunk-causal attention) on the next ``n`` frames of unpadded sequences,
        after the ``memory.frames`` that ``memory`` holds; ``memory`` is updated in place.

        Pieces after the first must start on a multiple of ``chunk_frames``; the outputs of
        consecutive pieces then equal `forward` with ``streaming=True`` over them all. An
        empty piece (``n == 0``) returns ``[B, M, 0]`` and leaves ``memory`` as it was.

        Args:
            x, mu, cond: the new frames ``[B, M, n]``.
            t: ``[B]``; spks: ``[B, M]`` (the same as for the earlier pieces).

        Returns:
            ``[B, M, n]``.
        """
        if not memory.conv_tails:
            memory.conv_tails = [None] * len(self.convs)
            memory.attention = [AttentionMemory() for _ in self.attention_layers]
        start, frames = memory.frames, x.shape[2]
        visible = chunk_mask(start, frames, start + frames, self.config.chunk_frames, x.device)
        mask = x.new_ones(x.shape[0], 1, frames)
        out = self._run(x, mask, mu, t, spks, cond, visible[None, None], memory)
        memory.frames += frames
        return out

    def _run(
        self,
        x: torch.Tensor,
        mask: torch.Tensor,
        mu: torch.Tensor,
        t: torch.Tensor,
        spks: torch.Tensor,
        cond: torch.Tensor,
        visible: torch.Tensor,
        memory: EstimatorMemory | None,
    ) -> torch.Tensor:
        if x.shape[2] == 0:
            # Nothing to compute (an empty sequence, or an empty piece closing a stream on a
            # chunk boundary), and a convolution cannot run on its zero tail alone: fewer
            # frames than its kernel. The memory stays as it was.
            return x.new_zeros(x.shape[0], self.config.mel_bins, 0)
        time = self.time(t)  # [B, E]
        speaker = spks[:, :, None].expand(-1, -1, x.shape[2])
        h = torch.cat([x, mu, speaker, cond], dim=1)  # [B, 4M, n]
        skip = self.down(h, mask, time, visible, memory)  # [B, D, n]
        h = self.down_conv(skip * mask, memory)
        for stage in self.mid:
            h = stage(h, mask, time, visible, memory)
        h = self.up(torch.cat([h, skip], dim=1), mask, time, visible, memory)
        h = self.up_conv(h * mask, memory)
        h = self.final(h, mask, memory)
        return self.out(h * mask) * mask

    def _chunk(self, streaming: bool) -> int | None:
        return self.config.chunk_frames if streaming else None

    def reference_state(self) -> dict[str, torch.Tensor]:
        """This module's weights under the reference's names (`reference_name`)."""
        return {reference_name(key): value for key, value in self.state_dict().items()}

    @classmethod
    def from_reference_state(
        cls, state: dict[str, torch.Tensor], config: EstimatorConfig
    ) -> CausalEstimator:
        """Build from the reference estimator's ``state_dict()`` (the official ``flow.pt``'s
        ``decoder.estimator.*`` entries, prefix removed). Strict: every key used, none missing.

        Raises:
            ValueError: keys are missing or unexpected (the message lists them).
        """
        return load_reference_state(cls(config), state, reference_name, _WHAT).eval()


_TOP_NAMES = (  # ours -> the reference's, by key prefix
    ("time.fc1.", "time_mlp.linear_1."),
    ("time.fc2.", "time_mlp.linear_2."),
    ("down_conv.", "down_blocks.0.2."),
    ("up_conv.", "up_blocks.0.2."),
    ("final.conv.", "final_block.block.0."),
    ("final.norm.", "final_block.block.2."),
    ("out.", "final_proj."),
)
_STAGE_NAMES = {"down": "down_blocks.0.", "up": "up_blocks.0.", "mid": "mid_blocks."}
_RESNET_NAMES = (
    ("block1.conv.", "block1.block.0."),
    ("block1.norm.", "block1.block.2."),
    ("block2.conv.", "block2.block.0."),
    ("block2.norm.", "block2.block.2."),
    ("time_proj.", "mlp.1."),
    ("skip.", "res_conv."),
)
_BLOCK_NAMES = (
    ("norm1.", "norm1."),
    ("attn.query.", "attn1.to_q."),
    ("attn.key.", "attn1.to_k."),
    ("attn.value.", "attn1.to_v."),
    ("attn.out.", "attn1.to_out.0."),
    ("norm2.", "norm3."),
    ("ff.expand.", "ff.net.0.proj."),
    ("ff.contract.", "ff.net.2."),
)


def reference_name(key: str) -> str:
    """A `CausalEstimator` state dict key -> the reference ``CausalConditionalDecoder``'s."""
    stage, _, rest = key.partition(".")
    if stage not in _STAGE_NAMES:
        return renamed(key, _TOP_NAMES, _WHAT)
    prefix = _STAGE_NAMES[stage]
    if stage == "mid":
        index, _, rest = rest.partition(".")
        prefix += f"{index}."
    part, _, inner = rest.partition(".")
    if part == "resnet":
        return f"{prefix}0.{renamed(inner, _RESNET_NAMES, _WHAT)}"
    block, _, inner = inner.partition(".")  # part == "transformers"
    return f"{prefix}1.{block}.{renamed(inner, _BLOCK_NAMES, _WHAT)}"
