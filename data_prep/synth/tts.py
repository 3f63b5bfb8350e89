"""Text-to-speech engines behind one interface, for synthetic parallel speech.

``TTSEngine`` is what the synthetic-corpus builder needs from a speech synthesizer: a list of
voices per language, a deterministic voice for a speaker id, and ``synthesize`` returning mono
float32 samples at the engine's own rate.  ``EspeakEngine`` drives Debian's ``espeak-ng`` binary;
better engines (the project's own TTS, Piper voices) register under their own name with
``register_tts_engine`` and are picked by name with ``get_tts_engine``.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any, ClassVar, TypeVar

import numpy as np
import soundfile as sf

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
    (espeak-ng: ``m1``..``m7``, ``f1``..``f4``), ``pitch`` and ``rate`` are engine units
    (espeak-ng: base pitch 0-99, words per minute).  ``extra`` holds engine-specific settings.
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
        """Speak ``text``; returns mono float32 samples and their sample rate."""

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


class EspeakEngine(TTSEngine):
    """Debian's ``espeak-ng`` run as a subprocess (text on stdin, WAV on stdout).

    Speakers differ by variant (``+m1``..``+m7``, ``+f1``..``+f4``), base pitch and speaking rate,
    all derived from a hash of the speaker id, so a corpus is reproducible and one speaker id keeps
    its voice across languages.  Threads are enough to run several at once.
    """

    name = "espeak-ng"
    VARIANTS: ClassVar[tuple[str, ...]] = (
        "m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4",
    )  # fmt: skip
    LANGUAGE_VOICES: ClassVar[dict[str, str]] = {
        "en": "en-us",
        "fr": "fr-fr",
        "es": "es",
        "de": "de",
        "hi": "hi",
        "bn": "bn",
        "ur": "ur",
    }
    PITCH_RANGE: ClassVar[tuple[int, int]] = (25, 80)  # espeak-ng base pitch, 0-99
    RATE_RANGE: ClassVar[tuple[int, int]] = (135, 195)  # words per minute

    def __init__(self, binary: str = "espeak-ng", *, timeout: float = 60.0) -> None:
        self.binary = binary
        self.timeout = timeout

    def languages(self) -> tuple[str, ...]:
        return tuple(self.LANGUAGE_VOICES)

    def _language_voice(self, language: str, text: str = "") -> str:
        try:
            return self.LANGUAGE_VOICES[language]
        except KeyError:
            raise TTSError(
                self.name,
                language,
                text,
                "unsupported_language",
                f"known: {', '.join(self.LANGUAGE_VOICES)}",
            ) from None

    def voices(self, language: str) -> list[VoiceSpec]:
        voice = self._language_voice(language)
        return [VoiceSpec(self.name, language, voice, variant) for variant in self.VARIANTS]

    def voice_for_speaker(self, speaker_id: str, language: str) -> VoiceSpec:
        base = super().voice_for_speaker(speaker_id, language)
        h = speaker_hash(speaker_id)
        low_pitch, high_pitch = self.PITCH_RANGE
        low_rate, high_rate = self.RATE_RANGE
        pitch = low_pitch + (h >> 16) % (high_pitch - low_pitch + 1)
        rate = low_rate + (h >> 32) % (high_rate - low_rate + 1)
        return replace(base, pitch=int(pitch), rate=int(rate))

    def check(self, language: str) -> None:
        self._language_voice(language)
        self._resolve_binary("", language)

    def _resolve_binary(self, text: str, language: str) -> str:
        path = shutil.which(self.binary)
        if path is None:
            raise TTSError(
                self.name,
                language,
                text,
                "engine_missing",
                f"{self.binary!r} not found on PATH; install the Debian package espeak-ng",
            )
        return path

    def version(self) -> str:
        path = shutil.which(self.binary)
        if path is None:
            return ""
        try:
            done = subprocess.run([path, "--version"], capture_output=True, timeout=10, check=False)
        except (OSError, subprocess.SubprocessError):
            return ""
        return done.stdout.decode("utf-8", "replace").strip()

    def synthesize(self, text: str, language: str, voice: VoiceSpec) -> tuple[np.ndarray, int]:
        language_voice = self._language_voice(language, text)
        if voice.language != language or voice.voice != language_voice:
            voice = replace(voice, language=language, voice=language_voice)
        if voice.variant and voice.variant not in self.VARIANTS:
            # espeak-ng silently ignores an unknown variant; refuse instead.
            raise TTSError(self.name, language, text, "engine_failed", f"variant {voice.variant!r}")
        binary = self._resolve_binary(text, language)
        command = [
            binary,
            "-v", voice.name,
            "-p", str(voice.pitch),
            "-s", str(voice.rate),
            "-b", "1",  # UTF-8 input
            "--stdin",  # text on stdin: no argv parsing of a text that starts with '-'
            "--stdout",
        ]  # fmt: skip
        for key, value in voice.extra:
            command += [f"-{key}", str(value)]
        try:
            done = subprocess.run(
                command,
                input=text.encode("utf-8"),
                capture_output=True,
                timeout=self.timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise TTSError(
                self.name, language, text, "timeout", f"no result after {self.timeout:g} s"
            ) from None
        except OSError as exc:
            raise TTSError(self.name, language, text, "engine_missing", str(exc)) from exc
        stderr = done.stderr.decode("utf-8", "replace").strip()
        if done.returncode != 0:
            detail = f"exit status {done.returncode}" + (f": {stderr}" if stderr else "")
            raise TTSError(self.name, language, text, "engine_failed", detail)
        try:
            samples, rate = sf.read(io.BytesIO(done.stdout), dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
            raise TTSError(self.name, language, text, "bad_output", str(exc)) from exc
        mono = np.ascontiguousarray(samples.mean(axis=1), dtype=np.float32)
        if mono.size == 0 or not np.any(mono):
            raise TTSError(self.name, language, text, "no_audio", stderr)
        return mono, int(rate)


_E = TypeVar("_E", bound=type[TTSEngine])
_ENGINES: dict[str, Callable[..., TTSEngine]] = {}


def register_tts_engine(name: str) -> Callable[[_E], _E]:
    """Class decorator: make an engine available as ``get_tts_engine(name, **kwargs)``."""

    def decorate(cls: _E) -> _E:
        _ENGINES[name] = cls
        return cls

    return decorate


def list_tts_engines() -> list[str]:
    return sorted(_ENGINES)


def get_tts_engine(name: str | TTSEngine = "espeak-ng", **kwargs: Any) -> TTSEngine:
    """An engine by registered name (``"espeak-ng"``); an engine instance is returned as is."""
    if isinstance(name, TTSEngine):
        return name
    try:
        factory = _ENGINES[name]
    except KeyError:
        raise UnknownTTSEngineError(
            f"unknown TTS engine {name!r}; known: {', '.join(list_tts_engines())}"
        ) from None
    return factory(**kwargs)


register_tts_engine("espeak-ng")(EspeakEngine)
