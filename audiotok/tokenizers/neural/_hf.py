"""`HFCodecTokenizer`: what every neural codec backed by a transformers model shares.

A family subclass names its transformers model class, builds the tiny debug config and maps a
padded batch to codes and back (`_encode_batch`, `_decode_batch`). This base class does the
rest once: loading weights (never falling back to random ones), the explicit random debug
model, eval mode and inference mode, right zero-padding with a padding mask, trimming codes to
each item's own ``ceil(num_samples / hop)`` frames and decoded audio to its ``num_samples``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch

from audiotok.errors import TokenizerUnavailableError, WeightsNotFoundError
from audiotok.tokenizers.base import (
    AudioTokenizer,
    TokenizerConfig,
    check_weights_or_debug,
    random_init,
)
from audiotok.tokens import Tokens
from audiotok.weights import load_hf_model


@dataclass(frozen=True)
class HFCodecConfig(TokenizerConfig):
    """Config of a transformers-backed codec.

    Attributes:
        hub_id: the default checkpoint on the Hugging Face Hub.
        hop_length: audio samples per code frame (``sample_rate / frame_rate``).
    """

    hub_id: str = ""
    hop_length: int = 1


class HFCodecTokenizer(AudioTokenizer):
    """Base of the neural codecs; subclasses set ``model_class_name`` and the hooks below."""

    needs_weights: ClassVar[bool] = True
    model_class_name: ClassVar[str] = ""

    def __init__(self, config: HFCodecConfig, spec: str, model: Any) -> None:
        super().__init__(config, spec)
        self.codec_config = config
        self.model = model.float().eval()  # codes are defined on float32 inference

    # ---- construction ---------------------------------------------------------------------
    @classmethod
    def model_class(cls) -> Any:
        import transformers

        return getattr(transformers, cls.model_class_name)

    @classmethod
    def default_weights(cls, config: TokenizerConfig) -> str | None:
        assert isinstance(config, HFCodecConfig)
        return config.hub_id

    @classmethod
    def availability(cls) -> str | None:
        import transformers

        if not hasattr(transformers, cls.model_class_name):
            return (
                f"transformers {transformers.__version__} has no {cls.model_class_name}; "
                "upgrade transformers"
            )
        return None

    @classmethod
    def build(
        cls,
        config: TokenizerConfig,
        *,
        spec: str,
        weights: str | Path | None = None,
        debug: bool = False,
    ) -> HFCodecTokenizer:
        assert isinstance(config, HFCodecConfig)
        reason = cls.availability()
        if reason is not None:
            raise TokenizerUnavailableError(f"{spec}: {reason}")
        check_weights_or_debug(spec, weights, debug)
        if debug:
            return cls._build_debug(config, spec)
        model = load_hf_model(cls.model_class(), weights or config.hub_id, what=spec)
        cls._check_model(model, config, spec)
        return cls(config, spec, model)

    @classmethod
    def _build_debug(cls, config: HFCodecConfig, spec: str) -> HFCodecTokenizer:
        with random_init(spec):
            model = cls.model_class()(cls._debug_model_config(config))
            tokenizer = cls(config, spec, model)
            tokenizer._calibrate_debug()
        return tokenizer

    @classmethod
    def _check_model(cls, model: Any, config: HFCodecConfig, spec: str) -> None:
        """Refuse a checkpoint whose rate or hop disagrees with the spec's arithmetic."""
        found = (int(model.config.sampling_rate), cls._model_hop_length(model))
        wanted = (config.sample_rate, config.hop_length)
        if found != wanted:
            raise WeightsNotFoundError(
                f"{spec}: the checkpoint has (sample rate, hop) = {found}, expected {wanted}; "
                "these weights belong to another model"
            )

    # ---- hooks for subclasses -------------------------------------------------------------
    @classmethod
    def _debug_model_config(cls, config: HFCodecConfig) -> Any:
        """A tiny transformers config with the real strides, codebook sizes and counts."""
        raise NotImplementedError

    def _calibrate_debug(self) -> None:
        """Debug only: rescale random layers so that codes vary (see `_probe`)."""

    def _probe(self, module: torch.nn.Module) -> torch.Tensor:
        """``module``'s output while encoding one second of noise (a copy).

        Random inits leave some latents far from their codebooks, so every frame would get
        the same code and the tests would prove nothing; subclasses rescale from this.
        """
        seen: list[torch.Tensor] = []
        handle = module.register_forward_hook(lambda _m, _i, out: seen.append(out.clone()))
        try:
            self._encode([0.1 * torch.randn(self.sample_rate)])
        finally:
            handle.remove()
        return seen[0]

    @classmethod
    def _model_hop_length(cls, model: Any) -> int:
        return int(model.config.hop_length)

    def _padded_length(self, longest: int) -> int:
        """Length of the padded batch: whole frames, so no encoder drops a partial one."""
        hop = self.codec_config.hop_length
        return max(1, math.ceil(longest / hop)) * hop

    def _encode_batch(
        self, audio: torch.Tensor, mask: torch.Tensor, lengths: list[int]
    ) -> torch.Tensor:
        """Audio ``[B, 1, L]`` and ``mask [B, 1, L]`` (1 on real samples) -> codes ``[B, K, T]``."""
        raise NotImplementedError

    def _decode_batch(self, codes: torch.Tensor, frames: list[int]) -> torch.Tensor:
        """Codes ``[B, K, T]`` (item i valid on its first ``frames[i]``) -> audio ``[B, L]``."""
        raise NotImplementedError

    # ---- devices --------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def to(self, device: str | torch.device) -> HFCodecTokenizer:
        self.model.to(device)
        return self

    # ---- encode / decode ------------------------------------------------------------------
    def num_frames(self, num_samples: int) -> int:
        """Code frames for ``num_samples`` of audio: ``ceil(num_samples / hop)``, at least 1."""
        return max(1, math.ceil(num_samples / self.codec_config.hop_length))

    def _encode(self, waves: list[torch.Tensor]) -> list[Tokens]:
        lengths = [int(w.shape[-1]) for w in waves]
        audio, mask = self._pad_batch(waves, self._padded_length(max(lengths)))
        with torch.inference_mode():
            codes = self._encode_batch(audio, mask, lengths).long().cpu()  # [B, K, T]
        out = []
        for i, length in enumerate(lengths):
            frames = self.num_frames(length)
            if codes.shape[-1] < frames:
                raise RuntimeError(
                    f"{self.spec}: model gave {codes.shape[-1]} frames, expected {frames}"
                )
            # Frames past an item's own length only saw padding: drop them.
            out.append(self._make_tokens(codes[i, :, :frames].clone(), length))
        return out

    def _decode(self, tokens: list[Tokens]) -> list[torch.Tensor]:
        for item in tokens:
            if item.num_codebooks != self.num_codebooks:
                raise ValueError(
                    f"{self.spec}: tokens have {item.num_codebooks} codebooks, "
                    f"expected {self.num_codebooks}"
                )
        longest = max(t.num_frames for t in tokens)
        codes = torch.zeros(len(tokens), self.num_codebooks, longest, dtype=torch.long)
        for i, item in enumerate(tokens):
            codes[i, :, : item.num_frames] = item.codes  # pad with code 0: any valid code
        with torch.inference_mode():
            frames = [t.num_frames for t in tokens]
            audio = self._decode_batch(codes.to(self.device), frames).float().cpu()  # [B, L]
        return [_fit(audio[i], item.num_samples) for i, item in enumerate(tokens)]

    def _pad_batch(
        self, waves: list[torch.Tensor], length: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Right zero-pad to ``length``: audio ``[B, 1, L]`` and a 0/1 mask ``[B, 1, L]``."""
        audio = torch.zeros(len(waves), 1, length)
        mask = torch.zeros(len(waves), 1, length, dtype=torch.long)
        for i, wave in enumerate(waves):
            audio[i, 0, : wave.shape[-1]] = wave
            mask[i, 0, : wave.shape[-1]] = 1
        return audio.to(self.device), mask.to(self.device)


def _fit(wave: torch.Tensor, num_samples: int) -> torch.Tensor:
    """Trim to ``num_samples``; zero-pad the few samples some decoders come up short by."""
    if wave.shape[-1] >= num_samples:
        return wave[:num_samples].contiguous()
    return torch.nn.functional.pad(wave, (0, num_samples - wave.shape[-1]))
