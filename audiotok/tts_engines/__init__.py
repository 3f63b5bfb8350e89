"""Offline text-to-speech engines behind one interface: `get_tts_engine(name)` -> `TTSEngine`.

``espeak-ng`` (Debian's binary, every DS2ST-LM language, many cheap voices) and ``piper``
(``piper-tts`` with the packaged natural English voice, or any Piper ``.onnx`` voice).  New
engines subclass `TTSEngine` and register with ``@register_tts_engine(name)``.
"""

from audiotok.tts_engines.base import (
    LANGUAGES,
    TTSEngine,
    TTSError,
    UnknownTTSEngineError,
    VoiceSpec,
    speaker_hash,
)
from audiotok.tts_engines.espeak import EspeakEngine
from audiotok.tts_engines.piper import PiperEngine, PiperVoiceInfo
from audiotok.tts_engines.registry import get_tts_engine, list_tts_engines, register_tts_engine

__all__ = [
    "LANGUAGES",
    "EspeakEngine",
    "PiperEngine",
    "PiperVoiceInfo",
    "TTSEngine",
    "TTSError",
    "UnknownTTSEngineError",
    "VoiceSpec",
    "get_tts_engine",
    "list_tts_engines",
    "register_tts_engine",
    "speaker_hash",
]
