"""CosyVoice 2-compatible components, loading the official checkpoint files.

Built: the speech LM (Qwen2 body over S3 v2 tokens) and its batched, per-request-sampled
generation. The flow, HiFT vocoder, CAM++ front end and the generator interface come next.
"""

from models.tts.cosyvoice2.decode import LMRequest, LMResult, SamplingConfig, generate
from models.tts.cosyvoice2.lm import SpeechLM
from models.tts.cosyvoice2.lm_config import PRESETS, SpeechLMConfig

__all__ = [
    "PRESETS",
    "LMRequest",
    "LMResult",
    "SamplingConfig",
    "SpeechLM",
    "SpeechLMConfig",
    "generate",
]
