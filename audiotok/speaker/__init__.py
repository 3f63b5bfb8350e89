"""Speaker embeddings: `get_speaker_encoder("resemblyzer")` -> `SpeakerEncoder`.

`SpeakerEncoder.embed(waves, sample_rate)` returns L2-normalised ``[B, D]`` embeddings;
their dot products are cosine similarities.
"""

from audiotok.speaker.base import SPEAKER_REGISTRY, SpeakerEncoder, get_speaker_encoder
from audiotok.speaker.resemblyzer_encoder import (
    ResemblyzerConfig,
    ResemblyzerEncoder,
    VoiceEncoderNet,
    partial_starts,
)

__all__ = [
    "SPEAKER_REGISTRY",
    "ResemblyzerConfig",
    "ResemblyzerEncoder",
    "SpeakerEncoder",
    "VoiceEncoderNet",
    "get_speaker_encoder",
    "partial_starts",
]
