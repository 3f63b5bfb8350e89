"""`AudioTokenizer`: the one base class every tokenizer and codec implements.

Subclasses implement `_encode` (and `_decode` where they can decode) on mono float32 waveforms
already at their own sample rate; the base class does the input checks, channel mixing and
resampling once for all of them.
"""

from __future__ import annotations

import logging
import math
import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from audiotok.audio.resample import resample
from audiotok.errors import TokensMismatchError
from audiotok.tokens import Tokens

AudioLike = torch.Tensor | np.ndarray

logger = logging.getLogger(__name__)

DEBUG_SEED = 0  # random debug models are reproducible: same spec, same weights


def check_weights_or_debug(spec: str, weights: object, debug: bool) -> None:
    """Refuse ``weights`` together with ``debug=True``: a random model never hides real ones."""
    if debug and weights is not None:
        raise ValueError(f"{spec}: pass either weights or debug=True, not both")


@contextmanager
def random_init(spec: str, seed: int = DEBUG_SEED) -> Iterator[None]:
    """Build a randomly initialised model inside: warns (tests and smoke runs only), seeds
    torch without touching the caller's random state, and disables autograd.
    """
    message = f"{spec}: a tiny RANDOMLY initialised model; its codes and audio mean nothing"
    warnings.warn(message, stacklevel=4)
    logger.warning(message)
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(seed)
        yield


@dataclass(frozen=True)
class TokenizerConfig:
    """Base of every tokenizer config: what is known before any weights are loaded."""

    sample_rate: int
    frame_rate: float
    codebook_sizes: tuple[int, ...]

    @property
    def nominal_bitrate(self) -> float:
        """``frame_rate * sum(log2(codebook_size))`` in bits per second."""
        return self.frame_rate * sum(math.log2(size) for size in self.codebook_sizes)


class AudioTokenizer(ABC):
    """Turns waveforms into `Tokens` and, where it can, back.

    Class attributes set by subclasses:
        can_decode: whether `decode` works.
        streaming: whether codes of a prefix do not depend on later audio.
        needs_weights: whether pretrained weights are required for real use.

    The registry sets ``spec`` on every instance it builds.
    """

    can_decode: ClassVar[bool] = True
    streaming: ClassVar[bool] = False
    needs_weights: ClassVar[bool] = False

    def __init__(self, config: TokenizerConfig, spec: str) -> None:
        self.config = config
        self.spec = spec

    # ---- properties -----------------------------------------------------------------------
    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    @property
    def frame_rate(self) -> float:
        return self.config.frame_rate

    @property
    def codebook_sizes(self) -> tuple[int, ...]:
        return self.config.codebook_sizes

    @property
    def num_codebooks(self) -> int:
        return len(self.config.codebook_sizes)

    @property
    def codebook_size(self) -> int:
        """Size of the largest codebook (all codebooks share it for most tokenizers)."""
        return max(self.config.codebook_sizes)

    @property
    def nominal_bitrate(self) -> float:
        return self.config.nominal_bitrate

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    def to(self, device: str | torch.device) -> AudioTokenizer:
        """Move model weights to ``device``; tokenizers without weights stay where they are."""
        return self

    @classmethod
    def build(
        cls,
        config: TokenizerConfig,
        *,
        spec: str,
        weights: str | Path | None = None,
        debug: bool = False,
    ) -> AudioTokenizer:
        """Construct from a config; subclasses with weights override this to load them."""
        if weights is not None or debug:
            raise ValueError(f"{spec} has no weights: drop 'weights' and 'debug'")
        return cls(config, spec)

    @classmethod
    def default_weights(cls, config: TokenizerConfig) -> str | None:
        """The Hub id loaded when no ``weights`` are given; None for weightless tokenizers."""
        return None

    @classmethod
    def availability(cls) -> str | None:
        """None when this tokenizer can run here, else the reason it cannot."""
        return None

    # ---- public API -----------------------------------------------------------------------
    def encode(self, audio: Sequence[AudioLike], sample_rate: int) -> list[Tokens]:
        """Encode a batch of waveforms.

        Args:
            audio: waveforms ``[samples]`` or ``[channels, samples]``, float, any length.
            sample_rate: rate of every waveform in ``audio``.

        Returns:
            one `Tokens` per waveform, in order.
        """
        waves = [self._prepare(item, sample_rate) for item in audio]
        if not waves:
            return []
        return self._encode(waves)

    def encode_one(self, audio: AudioLike, sample_rate: int) -> Tokens:
        return self.encode([audio], sample_rate)[0]

    def decode(self, tokens: Sequence[Tokens]) -> list[torch.Tensor]:
        """Waveforms ``[samples]`` at `sample_rate`, trimmed to each item's ``num_samples``."""
        if not self.can_decode:
            raise NotImplementedError(f"{self.spec} is encode-only and cannot decode")
        for item in tokens:
            if item.spec != self.spec:
                raise TokensMismatchError(f"tokens made by {item.spec!r} handed to {self.spec!r}")
        if not tokens:
            return []
        return self._decode(list(tokens))

    # ---- for subclasses -------------------------------------------------------------------
    @abstractmethod
    def _encode(self, waves: list[torch.Tensor]) -> list[Tokens]:
        """Encode mono float32 waveforms ``[samples]`` already at `sample_rate`."""

    def _decode(self, tokens: list[Tokens]) -> list[torch.Tensor]:
        raise NotImplementedError(f"{type(self).__name__} does not implement decoding")

    def _make_tokens(self, codes: torch.Tensor, num_samples: int, **extra: Any) -> Tokens:
        return Tokens(
            codes=codes,
            frame_rate=extra.pop("frame_rate", self.frame_rate),
            codebook_sizes=self.codebook_sizes,
            sample_rate=self.sample_rate,
            spec=self.spec,
            num_samples=num_samples,
            **extra,
        )

    def _prepare(self, audio: AudioLike, sample_rate: int) -> torch.Tensor:
        """Mono float32 ``[samples]`` at the tokenizer's rate."""
        wave = torch.as_tensor(audio, dtype=torch.float32)
        if wave.ndim == 2:
            wave = wave.mean(dim=0)
        if wave.ndim != 1:
            raise ValueError(f"expected [samples] or [channels, samples], got {tuple(wave.shape)}")
        if sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {sample_rate}")
        if sample_rate != self.sample_rate:
            wave = torch.from_numpy(resample(wave.numpy(), sample_rate, self.sample_rate))
        return wave.contiguous()
