"""CosyVoice 2-compatible speech generation, loading the official checkpoint files.

Parts, each with a config dataclass and ``debug`` preset: the speech LM (`lm`, `decode`: a
Qwen2 body over S3 v2 tokens, batched generation with per-request sampling), the flow
(`flow`: `flow_encoder`, `flow_estimator`, `flow_sampler`), the HiFT vocoder (`hift`), the
voice-prompt front end (`prompt`, `campplus`, `voice`) and the text front end (`text`).
`model.CosyVoice2Generator` joins them behind the `SpeechGenerator` interface; `loading` reads
the official layout and ours (`files`), converts between them, and builds random debug models.
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
