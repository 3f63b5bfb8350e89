"""EnCodec 24 kHz (``facebook/encodec_24khz``): ``encodec-24khz@{1.5,3,6,12,24}kbps``.

The checkpoint's figures: 24 kHz, encoder strides 2*4*5*8 = 320 samples per frame, so 75 Hz;
a residual VQ of up to 32 codebooks of 1024 codes (10 bits). A bandwidth of B kbps uses
``B * 1000 / (75 * 10)`` codebooks: 1.5 -> 2, 3 -> 4, 6 -> 8, 12 -> 16, 24 -> 32.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from audiotok.errors import WeightsNotFoundError
from audiotok.tokenizers.neural._hf import HFCodecConfig, HFCodecTokenizer
from audiotok.tokenizers.registry import register_tokenizer

SAMPLE_RATE = 24_000
HOP = 320  # prod(upsampling_ratios) = 8 * 5 * 4 * 2
FRAME_RATE = SAMPLE_RATE / HOP  # 75.0
CODEBOOK_SIZE = 1024
BANDWIDTHS = {"1.5kbps": 1.5, "3kbps": 3.0, "6kbps": 6.0, "12kbps": 12.0, "24kbps": 24.0}


@dataclass(frozen=True)
class EncodecTokenizerConfig(HFCodecConfig):
    """``bandwidth`` in kbps, as `EncodecModel.encode` takes it."""

    bandwidth: float = 6.0


def parse_encodec_option(option: str | None) -> EncodecTokenizerConfig:
    if option is None:
        raise ValueError(f"name a bandwidth, e.g. encodec-24khz@6kbps ({', '.join(BANDWIDTHS)})")
    key = option.strip().lower()
    if key not in BANDWIDTHS:
        raise ValueError(f"bandwidth must be one of {', '.join(BANDWIDTHS)}, got {option!r}")
    bandwidth = BANDWIDTHS[key]
    num_codebooks = round(bandwidth * 1000 / (FRAME_RATE * 10))
    return EncodecTokenizerConfig(
        sample_rate=SAMPLE_RATE,
        frame_rate=FRAME_RATE,
        codebook_sizes=(CODEBOOK_SIZE,) * num_codebooks,
        hub_id="facebook/encodec_24khz",
        hop_length=HOP,
        bandwidth=bandwidth,
    )


@register_tokenizer("encodec-24khz", parse_option=parse_encodec_option, presets=tuple(BANDWIDTHS))
class EncodecTokenizer(HFCodecTokenizer):
    """EnCodec: causal SEANet encoder + LSTM, residual VQ; streaming-friendly."""

    model_class_name = "EncodecModel"

    @classmethod
    def _debug_model_config(cls, config: HFCodecConfig) -> Any:
        from transformers import EncodecConfig

        # Real strides, rate, codebook size and bandwidth list; only widths/depths shrink.
        return EncodecConfig(
            sampling_rate=SAMPLE_RATE,
            upsampling_ratios=[8, 5, 4, 2],
            codebook_size=CODEBOOK_SIZE,
            target_bandwidths=[1.5, 3.0, 6.0, 12.0, 24.0],
            hidden_size=16,
            num_filters=4,
            num_lstm_layers=1,
        )

    def _calibrate_debug(self) -> None:
        # transformers initialises EnCodec codebooks to zeros: every code would be 0. Draw
        # them around the random encoder's latents instead: the first codebook at their
        # per-channel mean and spread over time, the residual ones around zero.
        latents = self._probe(self.model.encoder)[0]  # [D, T]
        mean, spread = latents.mean(dim=1), latents.std(dim=1)
        for i, layer in enumerate(self.model.quantizer.layers):
            embed = layer.codebook.embed  # [codebook_size, D]
            embed.copy_(torch.randn_like(embed) * spread + (mean if i == 0 else 0.0))

    @classmethod
    def _check_model(cls, model: Any, config: HFCodecConfig, spec: str) -> None:
        super()._check_model(model, config, spec)
        # The 48 kHz model encodes overlapping chunks with scales; only 24 kHz is wired up.
        if model.config.chunk_length_s is not None or model.config.normalize:
            raise WeightsNotFoundError(
                f"{spec}: a chunked/normalised EnCodec checkpoint (48 kHz?) is not supported"
            )

    def _encode_batch(
        self, audio: torch.Tensor, mask: torch.Tensor, lengths: list[int]
    ) -> torch.Tensor:
        assert isinstance(self.codec_config, EncodecTokenizerConfig)
        out = self.model.encode(
            audio, padding_mask=mask, bandwidth=self.codec_config.bandwidth, return_dict=True
        )
        # audio_codes: [chunks=1, B, K, T] (no chunking at 24 kHz); audio_scales: [None]
        return out.audio_codes[0]

    def _decode_batch(self, codes: torch.Tensor, frames: list[int]) -> torch.Tensor:
        # One chunk, no scales (normalize=False for the 24 kHz model).
        out = self.model.decode(codes[None], [None], return_dict=True)
        return out.audio_values[:, 0]  # [B, 1, L] -> [B, L]
