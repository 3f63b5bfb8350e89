"""Speech recognition: the `ASRBackend` extension point, `Transcript` and the registry."""

from __future__ import annotations

import zlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np

from audiotok._components import ComponentRegistry
from audiotok.requirements import Requirement


@dataclass(frozen=True)
class Transcript:
    """What a backend heard in one waveform, with the decoder's own evidence about it.

    Attributes:
        text: the transcript, stripped; empty when nothing was recognised.
        language: the language code used or detected (``"en"``), None if the backend has none.
            An English-only model reports ``"en"`` for any input: that is what it assumed,
            not what it detected (see `ASRBackend.languages`).
        avg_logprob: mean log-probability per decoded token (a confidence; closer to 0 is
            more confident), None when nothing was decoded or the backend does not say.
        no_speech_prob: the model's probability that the audio holds no speech (Whisper's
            no-speech token), None when the backend does not say.
        compression_ratio: `compression_ratio` of ``text``; repetitive (hallucinated) text
            compresses well and scores high.
    """

    text: str
    language: str | None
    avg_logprob: float | None
    no_speech_prob: float | None = None
    compression_ratio: float | None = None


def compression_ratio(text: str) -> float | None:
    """Bytes of ``text`` over bytes of its zlib compression (Whisper's repetition measure);
    None for empty text."""
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else None


class ASRBackend(ABC):
    """Transcribes a batch of waveforms.

    Backends resample internally, so any input rate works.
    """

    @property
    def languages(self) -> frozenset[str] | None:
        """Language codes the model can transcribe; None when it claims no limit."""
        return None

    def covers(self, language: str) -> bool:
        """Whether the model can transcribe speech in ``language`` (``"en"``, ``"fr"``)."""
        return self.languages is None or _base_code(language) in self.languages

    @abstractmethod
    def transcribe(
        self, waves: list[np.ndarray], sample_rate: int, language: str | None = None
    ) -> list[Transcript]:
        """One `Transcript` per waveform.

        Args:
            waves: float32 mono waveforms ``[N_i]``, all at ``sample_rate``.
            sample_rate: their rate in Hz.
            language: a language code to force (``"en"``); None lets the backend detect it.
        """


def _base_code(language: str) -> str:
    """``"en-US"`` / ``"en_GB"`` -> ``"en"``."""
    return language.replace("_", "-").split("-")[0].lower()


ASR_REGISTRY: ComponentRegistry[ASRBackend] = ComponentRegistry("ASR backend")


def get_asr(name: str = "faster-whisper", **options: Any) -> ASRBackend:
    """Build a registered ASR backend: ``get_asr("faster-whisper", model="tiny.en")``.

    Raises:
        UnknownComponentError: no backend of that name (the message lists the known ones).
        ComponentOptionError: an option its config does not have.
        BackendUnavailableError: its package is not installed.
        WeightsNotFoundError: its model cannot be found or fetched.
    """
    _register_builtins()
    return ASR_REGISTRY.create(name, **options)


def asr_requirements(name: str = "faster-whisper", **options: Any) -> list[Requirement]:
    """What building ``get_asr(name, **options)`` needs, checked without building it."""
    _register_builtins()
    return ASR_REGISTRY.requirements(name, **options)


def _register_builtins() -> None:
    from audiotok.asr import faster_whisper_backend  # noqa: F401
