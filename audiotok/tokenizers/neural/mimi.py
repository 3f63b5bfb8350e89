"""Mimi (``kyutai/mimi``): ``mimi@N``, N = codebooks used, 1..32 (bare ``mimi`` = 8).

The checkpoint's figures: 24 kHz; SEANet strides 4*5*6*8 = 960 (25 Hz) then a stride-2
downsampling, so 1920 samples per frame = 12.5 Hz; a split residual VQ of 32 codebooks of
2048 codes (11 bits), the first one semantic (distilled from WavLM). Moshi uses 8 codebooks:
12.5 * 8 * 11 = 1100 bps; all 32: 4400 bps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from audiotok.errors import WeightsNotFoundError
from audiotok.tokenizers.neural._hf import HFCodecConfig, HFCodecTokenizer
from audiotok.tokenizers.registry import register_tokenizer

SAMPLE_RATE = 24_000
HOP = 1920  # 8 * 6 * 5 * 4 (SEANet) * 2 (downsample)
CODEBOOK_SIZE = 2048
MAX_CODEBOOKS = 32
DEFAULT_CODEBOOKS = 8


@dataclass(frozen=True)
class MimiTokenizerConfig(HFCodecConfig):
    """``num_quantizers``: codebooks used (semantic first, then acoustic)."""

    num_quantizers: int = DEFAULT_CODEBOOKS


def parse_mimi_option(option: str | None) -> MimiTokenizerConfig:
    count = DEFAULT_CODEBOOKS if option is None else _parse_count(option)
    return MimiTokenizerConfig(
        sample_rate=SAMPLE_RATE,
        frame_rate=SAMPLE_RATE / HOP,  # 12.5
        codebook_sizes=(CODEBOOK_SIZE,) * count,
        hub_id="kyutai/mimi",
        hop_length=HOP,
        num_quantizers=count,
    )


def _parse_count(option: str) -> int:
    if not option.strip().isdigit() or not 1 <= int(option) <= MAX_CODEBOOKS:
        raise ValueError(f"option is the number of codebooks, 1..{MAX_CODEBOOKS}; got {option!r}")
    return int(option)


@register_tokenizer("mimi", parse_option=parse_mimi_option, presets=("8", "32"))
class MimiTokenizer(HFCodecTokenizer):
    """Mimi: causal convolutions and a causal transformer, so codes of a prefix are stable."""

    model_class_name = "MimiModel"
    streaming = True

    @classmethod
    def _debug_model_config(cls, config: HFCodecConfig) -> Any:
        from transformers import MimiConfig

        # Real rate, strides, codebook size and count; widths and depths shrink. The
        # upsampling conv is depthwise in the real model (groups = hidden = 512): keep that.
        hidden = 32
        return MimiConfig(
            sampling_rate=SAMPLE_RATE,
            upsampling_ratios=[8, 6, 5, 4],
            codebook_size=CODEBOOK_SIZE,
            num_quantizers=MAX_CODEBOOKS,
            num_semantic_quantizers=1,
            hidden_size=hidden,
            upsample_groups=hidden,
            num_filters=4,
            num_hidden_layers=1,
            intermediate_size=64,
            num_attention_heads=2,
            num_key_value_heads=2,
            codebook_dim=16,
            vector_quantization_hidden_dimension=16,
        )

    def _calibrate_debug(self) -> None:
        # transformers initialises Mimi codebooks (embed_sum) to zeros: every code would be 0.
        for codebook in _codebooks(self.model):
            codebook.embed_sum.normal_()
        self._forget_cached_embeddings(self.model)

    @staticmethod
    def _forget_cached_embeddings(model: Any) -> None:
        # Mimi caches ``embed_sum / cluster_usage`` in a plain attribute on first use; it
        # neither follows `.to(device)` nor sees new values, so drop it.
        for codebook in _codebooks(model):
            codebook._embed = None

    @classmethod
    def _model_hop_length(cls, model: Any) -> int:
        return int(model.config.frame_size)

    @classmethod
    def _check_model(cls, model: Any, config: HFCodecConfig, spec: str) -> None:
        super()._check_model(model, config, spec)
        if model.config.num_quantizers < MAX_CODEBOOKS:
            raise WeightsNotFoundError(f"{spec}: expected a Mimi with {MAX_CODEBOOKS} codebooks")

    def to(self, device: str | torch.device) -> MimiTokenizer:
        super().to(device)
        self._forget_cached_embeddings(self.model)
        return self

    def _encode_batch(
        self, audio: torch.Tensor, mask: torch.Tensor, lengths: list[int]
    ) -> torch.Tensor:
        # The encoder ignores padding_mask (transformers TODO), which is harmless here: it is
        # causal, so right padding only reaches frames that are dropped afterwards.
        assert isinstance(self.codec_config, MimiTokenizerConfig)
        out = self.model.encode(
            audio,
            padding_mask=mask,
            num_quantizers=self.codec_config.num_quantizers,
            use_streaming=False,  # one call per batch: no caches to carry
        )
        return out.audio_codes  # [B, N, T]

    def _decode_batch(self, codes: torch.Tensor, frames: list[int]) -> torch.Tensor:
        return self.model.decode(codes).audio_values[:, 0]  # [B, 1, L] -> [B, L]


def _codebooks(model: Any) -> list[Any]:
    from transformers.models.mimi.modeling_mimi import MimiEuclideanCodebook

    return [m for m in model.modules() if isinstance(m, MimiEuclideanCodebook)]
