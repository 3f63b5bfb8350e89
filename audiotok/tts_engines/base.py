"""The `TTSEngine` extension point: voices per language, a voice per speaker, ``synthesize``.

``TTSEngine`` is what the synthetic-corpus builder and the offline speech-translation speakers
need from a speech synthesizer: a list of voices per language, a deterministic voice for a
speaker id, and ``synthesize`` returning mono float32 samples at the engine's own rate.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np

from audiotok.errors import AudiotokError

#: The languages of the DS2ST-LM pairs (English plus the six targets), ISO 639-1 codes.
LANGUAGES = ("en", "fr", "es", "de", "hi", "bn", "ur")


class TTSError(AudiotokError):
    """Synthesis of one text failed; names the engine, the language and the text.

    ``reason`` is short and machine-readable: ``engine_missing``, ``unsupported_language``,
    ``engine_failed``, ``timeout``, ``no_audio`` or ``bad_output``.
    """

    def __init__(
        self, engine: str, language: str, text: str, reason: str, detail: str = ""
    ) -> None:
        self.engine = engine
        self.language = language
        self.text = text
        self.reason = reason
        self.detail = detail
        shown = text if len(text) <= 80 else text[:77] + "..."
        what = f"could not speak {shown!r} in" if text else "cannot synthesize"
        message = f"{engine} {what} {language!r}: {reason.replace('_', ' ')}"
        super().__init__(f"{message} ({detail})" if detail else message)


class UnknownTTSEngineError(AudiotokError, KeyError):
    """A TTS engine name that is not registered."""

    def __str__(self) -> str:  # KeyError would print the repr of the message
        return str(self.args[0])


@dataclass(frozen=True)
class VoiceSpec:
    """One voice of one engine: what to pass the engine so a speaker sounds the same each time.

    ``voice`` is the engine's voice name for the language, ``variant`` a timbre variant
    (espeak-ng: ``m1``..``m7``, ``f1``..``f4``; Piper: the speaker of a multi-speaker voice),
    ``pitch`` and ``rate`` are engine units (espeak-ng: base pitch 0-99, words per minute; 0
    where an engine has no such setting).  ``extra`` holds engine-specific settings.
    """

    engine: str
    language: str
    voice: str
    variant: str = ""
    pitch: int = 50
    rate: int = 175
    extra: tuple[tuple[str, Any], ...] = ()

    @property
    def name(self) -> str:
        return f"{self.voice}+{self.variant}" if self.variant else self.voice

    def params(self) -> dict[str, Any]:
        data = asdict(self)
        data["extra"] = dict(self.extra)
        return data

    def to_json(self) -> str:
        return json.dumps(self.params(), sort_keys=True, ensure_ascii=False)


def speaker_hash(speaker_id: str) -> int:
    """A stable 64-bit integer for a speaker id (the same in every process and Python run)."""
    return int.from_bytes(hashlib.sha256(speaker_id.encode("utf-8")).digest()[:8], "big")


class TTSEngine(ABC):
    """A speech synthesizer: ``synthesize(text, language, voice) -> (float32 [N], rate)``."""

    name: ClassVar[str] = "tts"

    @abstractmethod
    def voices(self, language: str) -> list[VoiceSpec]:
        """The distinct voices the engine has for ``language`` (raises ``TTSError`` if none)."""

    @abstractmethod
    def synthesize(self, text: str, language: str, voice: VoiceSpec) -> tuple[np.ndarray, int]:
        """Speak ``text``; returns mono float32 samples ``[N]`` and their sample rate."""

    def languages(self) -> tuple[str, ...]:
        return LANGUAGES

    def check(self, language: str) -> None:
        """Raise ``TTSError`` now if the engine cannot speak ``language`` at all."""
        self.voices(language)

    def voice_for_speaker(self, speaker_id: str, language: str) -> VoiceSpec:
        """The voice ``speaker_id`` uses in ``language``: a pure function of the two.

        The default picks one of ``voices(language)`` by a hash of the speaker id, so the same
        speaker gets the same timbre index in every language.
        """
        choices = self.voices(language)
        return choices[speaker_hash(speaker_id) % len(choices)]

    def version(self) -> str:
        return ""

    def unsupported(self, language: str, text: str = "") -> TTSError:
        """The error for a language outside ``languages()`` (it lists the known ones)."""
        known = ", ".join(self.languages())
        return TTSError(self.name, language, text, "unsupported_language", f"known: {known}")
