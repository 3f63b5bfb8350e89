"""Descript Audio Codec: ``dac-16khz``, ``dac-24khz``, ``dac-44khz`` (``@N`` = codebooks used).

The checkpoints' figures (``descript/dac_*`` config.json on the Hub, as transformers converted
them; codebooks of 1024 codes = 10 bits, codebook_dim 8):

=============  ========  ===================  ====  ============  =========  ===============
checkpoint     rate      downsampling_ratios  hop   frame rate    codebooks  bitrate (all)
=============  ========  ===================  ====  ============  =========  ===============
dac_16khz      16000     2, 4, 5, 8           320   50 Hz         12         6000 bps
dac_24khz      24000     2, 4, 5, 8           320   75 Hz         32         24000 bps
dac_44khz      44100     2, 4, 8, 8           512   86.1328125    9          7751.95 bps
=============  ========  ===================  ====  ============  =========  ===============

``DacConfig.frame_rate`` rounds 44100 / 512 up to 87; the exact rate is used here so that
``frame_rate * hop == sample_rate`` holds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from audiotok.errors import WeightsNotFoundError
from audiotok.tokenizers.neural._hf import HFCodecConfig, HFCodecTokenizer
from audiotok.tokenizers.registry import register_tokenizer

CODEBOOK_SIZE = 1024


@dataclass(frozen=True)
class DacVariant:
    name: str
    hub_id: str
    sample_rate: int
    ratios: tuple[int, ...]
    n_codebooks: int

    @property
    def hop(self) -> int:
        return math.prod(self.ratios)


VARIANTS = (
    DacVariant("dac-16khz", "descript/dac_16khz", 16_000, (2, 4, 5, 8), 12),
    DacVariant("dac-24khz", "descript/dac_24khz", 24_000, (2, 4, 5, 8), 32),
    DacVariant("dac-44khz", "descript/dac_44khz", 44_100, (2, 4, 8, 8), 9),
)


@dataclass(frozen=True)
class DacTokenizerConfig(HFCodecConfig):
    """``n_quantizers``: codebooks used (a prefix of the residual VQ); ``ratios``: strides."""

    n_quantizers: int = 1
    downsampling_ratios: tuple[int, ...] = ()
    model_codebooks: int = 1


def _option_parser(variant: DacVariant) -> Any:
    def parse(option: str | None) -> DacTokenizerConfig:
        count = variant.n_codebooks if option is None else _parse_count(option, variant)
        return DacTokenizerConfig(
            sample_rate=variant.sample_rate,
            frame_rate=variant.sample_rate / variant.hop,
            codebook_sizes=(CODEBOOK_SIZE,) * count,
            hub_id=variant.hub_id,
            hop_length=variant.hop,
            n_quantizers=count,
            downsampling_ratios=variant.ratios,
            model_codebooks=variant.n_codebooks,
        )

    return parse


def _parse_count(option: str, variant: DacVariant) -> int:
    if not option.strip().isdigit() or not 1 <= int(option) <= variant.n_codebooks:
        raise ValueError(
            f"option is the number of codebooks, 1..{variant.n_codebooks}; got {option!r}"
        )
    return int(option)


class DacTokenizer(HFCodecTokenizer):
    """DAC: non-causal convolutional encoder/decoder, residual VQ with factorised codes."""

    model_class_name = "DacModel"

    @classmethod
    def _debug_model_config(cls, config: HFCodecConfig) -> Any:
        from transformers import DacConfig

        assert isinstance(config, DacTokenizerConfig)
        # Real rate, strides, codebook size and count; only the channel widths shrink.
        return DacConfig(
            sampling_rate=config.sample_rate,
            downsampling_ratios=list(config.downsampling_ratios),
            n_codebooks=config.model_codebooks,
            codebook_size=CODEBOOK_SIZE,
            codebook_dim=8,
            encoder_hidden_size=4,
            decoder_hidden_size=32,
        )

    @classmethod
    def _check_model(cls, model: Any, config: HFCodecConfig, spec: str) -> None:
        super()._check_model(model, config, spec)
        assert isinstance(config, DacTokenizerConfig)
        if model.config.n_codebooks != config.model_codebooks:
            raise WeightsNotFoundError(
                f"{spec}: the checkpoint has {model.config.n_codebooks} codebooks, expected "
                f"{config.model_codebooks}; these weights belong to another model"
            )

    def _encode_batch(
        self, audio: torch.Tensor, mask: torch.Tensor, lengths: list[int]
    ) -> torch.Tensor:
        # DAC takes no padding mask: the batch is zero-padded to whole frames, as DAC's own
        # feature extractor does, and frames past each item's length are dropped later.
        assert isinstance(self.codec_config, DacTokenizerConfig)
        out = self.model.encode(audio, n_quantizers=self.codec_config.n_quantizers)
        return out.audio_codes  # [B, n_quantizers, T]

    def _decode_batch(self, codes: torch.Tensor, frames: list[int]) -> torch.Tensor:
        # [B, L]; with an odd stride (5) the decoder gives T * hop - 8 samples, so the last
        # few samples of an item may be missing and are zero-filled by the base class.
        return self.model.decode(audio_codes=codes).audio_values


for _variant in VARIANTS:
    register_tokenizer(_variant.name, parse_option=_option_parser(_variant), presets=(None,))(
        DacTokenizer
    )
