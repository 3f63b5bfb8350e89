"""Synthetic parallel speech: TTS engines and the paired-corpus builder (``run_synth``)."""

from data_prep.synth.corpus import (
    SYNTH_SCHEMA,
    SynthInputError,
    SynthReport,
    read_parallel_text,
    run_synth,
    speaker_ids,
)
from data_prep.synth.tts import (
    LANGUAGES,
    EspeakEngine,
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
    "SYNTH_SCHEMA",
    "EspeakEngine",
    "SynthInputError",
    "SynthReport",
    "TTSEngine",
    "TTSError",
    "UnknownTTSEngineError",
    "VoiceSpec",
    "get_tts_engine",
    "list_tts_engines",
    "read_parallel_text",
    "register_tts_engine",
    "run_synth",
    "speaker_hash",
    "speaker_ids",
]
