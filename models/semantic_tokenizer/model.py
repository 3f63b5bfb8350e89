"""The supervised semantic tokenizer: Whisper-style encoder + quantizer + CTC character head.

Module names follow transformers' ``WhisperEncoder`` (``conv1``, ``conv2``, ``embed_positions``,
``layers.N.self_attn.{q,k,v,out}_proj``, ``self_attn_layer_norm``, ``fc1``, ``fc2``,
``final_layer_norm``, ``layer_norm``) so a Whisper encoder checkpoint maps onto it one to one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

from models.semantic_tokenizer.config import QuantizerConfig, SemanticTokenizerConfig
from models.semantic_tokenizer.quantizers import EMAVectorQuantizer, FSQuantizer, build_quantizer


def sinusoids(length: int, channels: int, max_timescale: float = 10000.0) -> torch.Tensor:
    """Whisper's fixed position table ``[length, channels]`` (sines then cosines)."""
    if channels % 2:
        raise ValueError(f"channels must be even, got {channels}")
    step = math.log(max_timescale) / (channels // 2 - 1)
    inv = torch.exp(-step * torch.arange(channels // 2, dtype=torch.float32))
    angles = torch.arange(length, dtype=torch.float32)[:, None] * inv[None, :]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


class SelfAttention(nn.Module):
    def __init__(self, dim: int, num_heads: int, dropout: float) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(dim, dim, bias=False)
        self.v_proj = nn.Linear(dim, dim)
        self.out_proj = nn.Linear(dim, dim)
        self.dropout = dropout

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``x [B, T, D]``, ``mask [B, T]`` (True = valid) -> ``[B, T, D]``."""
        batch, frames, dim = x.shape
        heads = self.num_heads

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.view(batch, frames, heads, dim // heads).transpose(1, 2)

        q, k, v = split(self.q_proj(x)), split(self.k_proj(x)), split(self.v_proj(x))
        attn_mask = mask[:, None, None, :]  # keys only; padded queries are ignored downstream
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, dropout_p=self.dropout if self.training else 0.0
        )
        return self.out_proj(out.transpose(1, 2).reshape(batch, frames, dim))


class EncoderBlock(nn.Module):
    """Pre-LN transformer block (attention + GELU MLP)."""

    def __init__(self, dim: int, num_heads: int, ffn_dim: int, dropout: float, eps: float):
        super().__init__()
        self.self_attn_layer_norm = nn.LayerNorm(dim, eps=eps)
        self.self_attn = SelfAttention(dim, num_heads, dropout)
        self.final_layer_norm = nn.LayerNorm(dim, eps=eps)
        self.fc1 = nn.Linear(dim, ffn_dim)
        self.fc2 = nn.Linear(ffn_dim, dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = x + self.dropout(self.self_attn(self.self_attn_layer_norm(x), mask))
        return x + self.dropout(self.fc2(F.gelu(self.fc1(self.final_layer_norm(x)))))


@dataclass
class SemanticTokenizerOutput:
    """What :meth:`SemanticTokenizer.forward` returns.

    - ``loss``: ``ctc_loss + quantizer_loss`` (scalar; ``quantizer_loss`` alone without targets).
    - ``ctc_loss``: mean CTC loss per target character, or None without targets.
    - ``quantizer_loss``: commitment loss (0 for FSQ).
    - ``codes``: ``[B, T']`` int64 token ids, ``-1`` on padded frames.
    - ``lengths``: ``[B]`` valid tokens per item.
    - ``log_probs``: ``[B, T', V]`` CTC log-probabilities (float32).
    - ``mask``: ``[B, T']`` True on valid frames.
    """

    loss: torch.Tensor
    ctc_loss: torch.Tensor | None
    quantizer_loss: torch.Tensor
    codes: torch.Tensor
    lengths: torch.Tensor
    log_probs: torch.Tensor
    mask: torch.Tensor


class SemanticTokenizer(nn.Module):
    """Whisper-style encoder with a quantizer after block ``quantizer_after`` and a CTC head.

    Input ``mels [B, n_mels, T]`` (Whisper log-mel, 100 frames/s) -> tokens ``[B, T / s]``
    with ``s = prod(conv_strides)``.
    """

    def __init__(self, config: SemanticTokenizerConfig) -> None:
        super().__init__()
        self.config = config
        d = config.d_model
        s1, s2 = config.conv_strides
        self.conv1 = nn.Conv1d(config.n_mels, d, kernel_size=3, stride=s1, padding=1)
        self.conv2 = nn.Conv1d(d, d, kernel_size=3, stride=s2, padding=1)
        self.register_buffer("embed_positions", sinusoids(config.max_positions, d))
        self.embed_positions: torch.Tensor
        self.layers = nn.ModuleList(
            EncoderBlock(d, config.num_heads, config.ffn_dim, config.dropout, config.layer_norm_eps)
            for _ in range(config.num_layers)
        )
        self.quantizer: EMAVectorQuantizer | FSQuantizer = build_quantizer(d, config.quantizer)
        self.layer_norm = nn.LayerNorm(d, eps=config.layer_norm_eps)
        self.ctc_head = nn.Linear(d, config.vocab_size)
        self.dropout = nn.Dropout(config.dropout)

    @property
    def num_codes(self) -> int:
        return self.quantizer.num_codes

    def output_lengths(self, mel_lengths: torch.Tensor) -> torch.Tensor:
        """Valid tokens for ``mel_lengths`` valid mel frames (each conv: ``(n - 1) // s + 1``)."""
        n = mel_lengths
        for stride in self.config.conv_strides:
            n = torch.div(n - 1, stride, rounding_mode="floor") + 1
        return n

    def embed(
        self, mels: torch.Tensor, mel_lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Conv front end + positions: ``[B, n_mels, T]`` -> (``[B, T', D]``, lengths, mask)."""
        x = F.gelu(self.conv1(mels))
        x = F.gelu(self.conv2(x)).transpose(1, 2)
        frames = x.shape[1]
        if frames > self.embed_positions.shape[0]:
            raise ValueError(
                f"{frames} frames exceed max_positions={self.embed_positions.shape[0]}; "
                "split the audio or raise max_positions"
            )
        x = self.dropout(x + self.embed_positions[:frames].to(x.dtype))
        lengths = self.output_lengths(mel_lengths).clamp(max=frames)
        mask = torch.arange(frames, device=x.device)[None, :] < lengths[:, None]
        return x, lengths, mask

    def hidden_before_quantizer(
        self, mels: torch.Tensor, mel_lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Features entering the quantizer ``[B, T', D]``, with lengths ``[B]`` and mask."""
        x, lengths, mask = self.embed(mels, mel_lengths)
        for layer in self.layers[: self.config.quantizer_after]:
            x = layer(x, mask)
        return x, lengths, mask

    @torch.no_grad()
    def encode(
        self, mels: torch.Tensor, mel_lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Tokens only: ``(codes [B, T'] with -1 on padding, lengths [B])``.

        Runs the quantizer in whatever mode the module is in; call ``eval()`` first so EMA
        statistics are left alone.
        """
        x, lengths, mask = self.hidden_before_quantizer(mels, mel_lengths)
        return self.quantizer(x, mask).codes, lengths

    def code_embeddings(self, codes: torch.Tensor) -> torch.Tensor:
        """Token ids ``[...]`` -> the quantizer's output features ``[..., D]``."""
        return self.quantizer.lookup(codes)

    def forward(
        self,
        mels: torch.Tensor,
        mel_lengths: torch.Tensor,
        targets: torch.Tensor | None = None,
        target_lengths: torch.Tensor | None = None,
    ) -> SemanticTokenizerOutput:
        """Encode, quantise, decode to CTC scores and (with targets) compute the loss.

        Args:
            mels: ``[B, n_mels, T]`` log-mel.
            mel_lengths: ``[B]`` valid mel frames.
            targets: ``[B, L]`` character ids (>= 1; padding ignored past ``target_lengths``).
            target_lengths: ``[B]``.
        """
        x, lengths, mask = self.hidden_before_quantizer(mels, mel_lengths)
        quant = self.quantizer(x, mask)
        x = quant.quantized.to(x.dtype)
        for layer in self.layers[self.config.quantizer_after :]:
            x = layer(x, mask)
        logits = self.ctc_head(self.layer_norm(x))
        log_probs = logits.float().log_softmax(-1)
        ctc = None
        loss = quant.loss
        if targets is not None:
            if target_lengths is None:
                raise ValueError("targets need target_lengths")
            ctc = F.ctc_loss(
                log_probs.transpose(0, 1),
                targets,
                lengths,
                target_lengths,
                blank=0,
                reduction="sum",
                zero_infinity=True,
            ) / target_lengths.sum().clamp(min=1)
            loss = ctc + quant.loss
        return SemanticTokenizerOutput(
            loss=loss,
            ctc_loss=ctc,
            quantizer_loss=quant.loss,
            codes=quant.codes,
            lengths=lengths,
            log_probs=log_probs,
            mask=mask,
        )


def build_semantic_tokenizer(
    *,
    vocab_size: int,
    n_mels: int = 128,
    d_model: int = 128,
    num_heads: int = 4,
    ffn_dim: int = 512,
    num_layers: int = 4,
    quantizer_after: int = 2,
    conv_strides: tuple[int, int] = (1, 2),
    max_positions: int = 1500,
    dropout: float = 0.0,
    layer_norm_eps: float = 1e-5,
    quantizer: QuantizerConfig | None = None,
    whisper_init: str | Path | None = None,
) -> SemanticTokenizer:
    """Build a :class:`SemanticTokenizer` from every hyperparameter, spelled out.

    ``whisper_init`` (a transformers Whisper checkpoint directory or Hub id) copies the conv
    front end, positions and the first ``num_layers`` encoder blocks from it; its width, heads,
    FFN size and mel bins must match.
    """
    config = SemanticTokenizerConfig(
        n_mels=n_mels,
        d_model=d_model,
        num_heads=num_heads,
        ffn_dim=ffn_dim,
        num_layers=num_layers,
        quantizer_after=quantizer_after,
        conv_strides=conv_strides,
        max_positions=max_positions,
        dropout=dropout,
        layer_norm_eps=layer_norm_eps,
        vocab_size=vocab_size,
        quantizer=quantizer or QuantizerConfig(),
    )
    model = SemanticTokenizer(config)
    if whisper_init is not None:
        init_from_whisper(model, whisper_init)
    return model


def build_from_config(
    config: SemanticTokenizerConfig, whisper_init: str | Path | None = None
) -> SemanticTokenizer:
    """:func:`build_semantic_tokenizer` from a config object (e.g. a preset)."""
    model = SemanticTokenizer(config)
    if whisper_init is not None:
        init_from_whisper(model, whisper_init)
    return model


def init_from_whisper(model: SemanticTokenizer, source: str | Path) -> list[str]:
    """Copy a transformers Whisper encoder's weights into ``model``; returns the copied names.

    Copies ``conv1``, ``conv2``, ``embed_positions`` (first ``max_positions`` rows) and blocks
    ``0 .. min(num_layers, encoder_layers) - 1``. Whisper's final ``layer_norm`` is copied too
    when the model has as many blocks as the encoder. Raises ``ValueError`` on a shape mismatch.
    """
    from transformers import WhisperModel

    from audiotok.weights import load_hf_model

    whisper: Any = load_hf_model(
        cast(Any, WhisperModel), source, what="semantic tokenizer whisper_init"
    )
    encoder_state = whisper.get_encoder().state_dict()
    wcfg = whisper.config
    cfg = model.config
    theirs = (wcfg.d_model, wcfg.encoder_attention_heads, wcfg.encoder_ffn_dim, wcfg.num_mel_bins)
    ours = (cfg.d_model, cfg.num_heads, cfg.ffn_dim, cfg.n_mels)
    if theirs != ours:
        raise ValueError(
            f"Whisper encoder (d_model, heads, ffn, mels) = {theirs} does not match the "
            f"model's {ours}"
        )
    own = model.state_dict()
    copied: dict[str, torch.Tensor] = {}
    shared_layers = min(cfg.num_layers, wcfg.encoder_layers)
    for name, tensor in encoder_state.items():
        if name.startswith("layers."):
            if int(name.split(".")[1]) >= shared_layers:
                continue
        elif name.startswith("layer_norm.") and cfg.num_layers != wcfg.encoder_layers:
            continue
        if name == "embed_positions.weight":
            rows = min(tensor.shape[0], own["embed_positions"].shape[0])
            table = own["embed_positions"].clone()
            table[:rows] = tensor[:rows]
            copied["embed_positions"] = table
            continue
        if name not in own:
            continue
        if own[name].shape != tensor.shape:
            raise ValueError(f"{name}: shape {tuple(tensor.shape)} != {tuple(own[name].shape)}")
        copied[name] = tensor
    model.load_state_dict(copied, strict=False)
    return sorted(copied)
