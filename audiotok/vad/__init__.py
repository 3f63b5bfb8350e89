"""Voice activity detection: `get_vad("silero")` -> `VoiceActivityDetector`.

Detectors return `SpeechSegment`s in seconds.  New detectors subclass
`VoiceActivityDetector` and register with ``@VAD_REGISTRY.register(name, ConfigClass)``.
"""

from audiotok.vad.base import (
    VAD_REGISTRY,
    SpeechSegment,
    VoiceActivityDetector,
    get_vad,
    segments_from_probabilities,
)
from audiotok.vad.silero import SileroVAD, SileroVADConfig

__all__ = [
    "VAD_REGISTRY",
    "SileroVAD",
    "SileroVADConfig",
    "SpeechSegment",
    "VoiceActivityDetector",
    "get_vad",
    "segments_from_probabilities",
]
