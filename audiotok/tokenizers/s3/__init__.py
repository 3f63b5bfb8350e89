"""CosyVoice S3 speech tokenizers (v1 50/25 Hz, v2, v3): our torch implementation.

`S3Tokenizer` (specs ``s3-v1-50hz``, ``s3-v1-25hz``, ``s3-v2``, ``s3-v3``) loads the official
ONNX files, a state dict of the reference ``s3tokenizer`` package, or our own safetensors
directory (`save_pretrained`); `S3Model.quantize` is the one-pass model.
"""

from audiotok.tokenizers.s3.checkpoint import load_model, load_pretrained, save_pretrained
from audiotok.tokenizers.s3.config import PRESETS, S3Config, get_config
from audiotok.tokenizers.s3.model import S3Model
from audiotok.tokenizers.s3.tokenizer import S3Tokenizer

__all__ = [
    "PRESETS",
    "S3Config",
    "S3Model",
    "S3Tokenizer",
    "get_config",
    "load_model",
    "load_pretrained",
    "save_pretrained",
]
