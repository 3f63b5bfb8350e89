"""espeak-ng, Debian's formant synthesizer: every DS2ST-LM language, many cheap voices."""

from __future__ import annotations

import io
import shutil
import subprocess
from dataclasses import replace
from typing import ClassVar

import numpy as np
import soundfile as sf

from audiotok.tts_engines.base import TTSEngine, TTSError, VoiceSpec, speaker_hash
from audiotok.tts_engines.registry import register_tts_engine


@register_tts_engine("espeak-ng")
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
            raise self.unsupported(language, text) from None

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
        command = self._command(self._resolve_binary(text, language), voice)
        wav, stderr = self._run(command, text, language)
        try:
            samples, rate = sf.read(io.BytesIO(wav), dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
            raise TTSError(self.name, language, text, "bad_output", str(exc)) from exc
        mono = np.ascontiguousarray(samples.mean(axis=1), dtype=np.float32)
        if mono.size == 0 or not np.any(mono):
            raise TTSError(self.name, language, text, "no_audio", stderr)
        return mono, int(rate)

    @staticmethod
    def _command(binary: str, voice: VoiceSpec) -> list[str]:
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
        return command

    def _run(self, command: list[str], text: str, language: str) -> tuple[bytes, str]:
        """The WAV bytes espeak-ng wrote and its stderr; a failed run is a ``TTSError``."""
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
        return done.stdout, stderr
