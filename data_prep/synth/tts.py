"""The TTS engines, re-exported from `audiotok.tts_engines` where they live (so the models
layer can use them too); existing ``data_prep.synth.tts`` imports keep working."""

from audiotok.tts_engines import (
    LANGUAGES,
    EspeakEngine,
    PiperEngine,
    TTSEngine,
    TTSError,
    UnknownTTSEngineError,
    VoiceSpec,
    get_tts_engine,
    list_tts_engines,
    register_tts_engine,
    speaker_hash,
)

__all__ = [
    "LANGUAGES",
    "EspeakEngine",
    "PiperEngine",
    "TTSEngine",
    "TTSError",
    "UnknownTTSEngineError",
    "VoiceSpec",
    "get_tts_engine",
    "list_tts_engines",
    "register_tts_engine",
    "speaker_hash",
]
