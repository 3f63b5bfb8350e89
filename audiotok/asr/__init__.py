"""Speech recognition: `get_asr("faster-whisper", model="tiny.en")` -> `ASRBackend`.

New backends subclass `ASRBackend` and register with
``@ASR_REGISTRY.register(name, ConfigClass)``; their packages are imported when built.
"""

from audiotok.asr.base import ASR_REGISTRY, ASRBackend, Transcript, get_asr
from audiotok.asr.faster_whisper_backend import FasterWhisperASR, FasterWhisperConfig

__all__ = [
    "ASR_REGISTRY",
    "ASRBackend",
    "FasterWhisperASR",
    "FasterWhisperConfig",
    "Transcript",
    "get_asr",
]
