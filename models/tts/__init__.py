"""Speech generation: text (and a voice prompt) to speech, for TTS and translation.

`generator`: the `SpeechGenerator` interface every model family implements; `registry`: which
family a model directory holds and loading it; `api`: `TTS`, the plain-text Python calls;
`cosyvoice2`: the CosyVoice 2-compatible family (LM, flow, HiFT, CAM++ and text front ends)
that loads the official files.
"""

from models.tts.api import TTS
from models.tts.generator import (
    AudioChunk,
    SpeechGenerator,
    Synthesis,
    SynthesisError,
    SynthesisRequest,
    Voice,
)
from models.tts.registry import GeneratorFamily, convert_model, load_generator, register_family

__all__ = [
    "TTS",
    "AudioChunk",
    "GeneratorFamily",
    "SpeechGenerator",
    "Synthesis",
    "SynthesisError",
    "SynthesisRequest",
    "Voice",
    "convert_model",
    "load_generator",
    "register_family",
]
