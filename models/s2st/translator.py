"""`Translator`: the one interface of speech-to-speech translation backends.

A backend turns speech segments (a few seconds to ``max_segment_s``, already cut at pauses by
the job) into target text and target speech. The job around it (``audiotok translate``:
discovery, VAD splitting, batching across files, reassembly, subtitles, resume, Ray) is the
same for every backend, so backends differ only in the model:

- ``cascade``: ASR -> MT -> TTS (`models.s2st.cascade`);
- ``seamless``: SeamlessM4T v2 (`models.s2st.seamless`);
- ``ds2st-lm``: the direct LLM model, registered by its own package.

A backend registers a builder with `register_translator`; `build_translator` makes one from
the shared `TranslatorOptions` (each backend reads the fields it uses and rejects settings it
cannot honour with a `TranslationSetupError`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from audiotok.errors import AudiotokError


class TranslationSetupError(AudiotokError, ValueError):
    """A backend cannot be built with these options (unknown backend, language it cannot
    handle, missing model)."""


class SegmentError(AudiotokError):
    """One segment could not be translated; ``reason`` is a stable code (``no_speech``,
    ``empty_transcript``, ``mt_failed``, ``tts_failed``, ...)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class TranslatorOptions:
    """What the command line says about the models; shared by every backend.

    Attributes:
        source: ISO 639-1 code of the input speech (``fr``), or ``auto`` (the ASR's language
            identification, where the model is multilingual).
        target: ISO 639-1 code of the output (``en``).
        asr_model, mt_model, tts_model: the cascade's models (Hub id or directory); None: the
            backend's default.
        model: the model of a direct backend (``seamless``, ``ds2st-lm``): Hub id or directory.
        voice: ``keep`` (speak in the source speaker's voice) or ``none``.
        random_weights: tiny random models for every component without packaged weights
            (tests only: their output means nothing); packaged models stay real.
        device: ``cpu``, ``cuda``, ``cuda:1`` ...
        seed: base seed of sampling (each segment adds its own offset).
        threads: CPU threads of each model (0: the libraries' defaults); the job gives each of
            its workers a share of the machine.
    """

    source: str
    target: str
    asr_model: str | None = None
    mt_model: str | None = None
    tts_model: str | None = None
    model: str | None = None
    voice: str = "keep"
    random_weights: bool = False
    device: str = "cpu"
    seed: int = 0
    threads: int = 0


@dataclass(frozen=True, eq=False)
class SegmentInput:
    """One stretch of source speech.

    Attributes:
        id: unique within a batch (``<file id>-<index>``).
        wave: float32 mono samples ``[T]`` at ``sample_rate``.
        sample_rate: Hz (the job gives 16 kHz).
        source_language: ISO code, or None to detect it.
        seed: this segment's sampling seed (reruns give the same output).
        speaker: who speaks (the file's id by default): voices of backends that cannot clone
            one are picked from it, so a file keeps one voice across its segments.
    """

    id: str
    wave: np.ndarray
    sample_rate: int
    source_language: str | None
    seed: int = 0
    speaker: str = ""


@dataclass(eq=False)
class SegmentOutput:
    """What a backend made of one segment (``audio`` empty and ``error`` set on failure).

    Attributes:
        source_text: what was heard (the ASR's text; a direct model's own transcript or "").
        target_text: the translation.
        audio: float32 ``[samples]`` at ``sample_rate``: the target speech.
        source_language: the language used or detected.
        stage_s: wall seconds per stage spent on this segment (a batch's time is shared out in
            proportion to segment length): ``{"asr": .., "mt": .., "tts": ..}``.
    """

    id: str
    source_text: str
    target_text: str
    audio: np.ndarray
    sample_rate: int
    source_language: str | None
    stage_s: dict[str, float] = field(default_factory=dict)
    error: SegmentError | None = None


class Translator(ABC):
    """Speech segments in one language -> target text and speech."""

    @property
    @abstractmethod
    def sample_rate(self) -> int:
        """Rate of the output speech in Hz."""

    @property
    @abstractmethod
    def voice_preserving(self) -> bool:
        """Whether the output speaks in the source speaker's voice."""

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """The components and their sources (``{"asr": "tiny.en (packaged)", ...}``), with
        ``random`` listing those built with random weights; part of the resume settings and of
        ``summary.json``."""

    @abstractmethod
    def translate(self, segments: Sequence[SegmentInput]) -> list[SegmentOutput]:
        """One `SegmentOutput` per segment, in order; a failed segment carries its error and
        never stops the others."""


TranslatorBuilder = Callable[[TranslatorOptions], Translator]
_BACKENDS: dict[str, TranslatorBuilder] = {}
_PLANNED = {"ds2st-lm": "the DS2ST-LM model (models.ds2st) registers it once it is built"}


def register_translator(name: str, builder: TranslatorBuilder) -> None:
    """Make ``--backend name`` build translators with ``builder(options)``."""
    _BACKENDS[name] = builder


def translator_names() -> list[str]:
    _builtin()
    return sorted(set(_BACKENDS) | set(_PLANNED))


def build_translator(name: str, options: TranslatorOptions) -> Translator:
    """The backend ``name`` built with ``options``.

    Raises:
        TranslationSetupError: no such backend, or it cannot be built with these options.
        WeightsNotFoundError: a model is missing (nothing falls back to random weights).
    """
    _builtin()
    if name not in _BACKENDS:
        if name in _PLANNED:
            raise TranslationSetupError(
                f"translate: backend {name!r} is not available: {_PLANNED[name]}"
            )
        raise TranslationSetupError(
            f"translate: unknown backend {name!r}; known: {', '.join(translator_names())}"
        )
    return _BACKENDS[name](options)


def _builtin() -> None:
    import importlib

    for module in ("models.s2st.cascade", "models.s2st.seamless"):  # they register themselves
        importlib.import_module(module)
