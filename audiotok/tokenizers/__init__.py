"""Tokenizers and codecs behind one interface, looked up by spec string."""

from audiotok.tokenizers.base import AudioTokenizer, TokenizerConfig
from audiotok.tokenizers.registry import (
    TokenizerInfo,
    get_tokenizer,
    known_specs,
    list_tokenizers,
    register_tokenizer,
)

__all__ = [
    "AudioTokenizer",
    "TokenizerConfig",
    "TokenizerInfo",
    "get_tokenizer",
    "known_specs",
    "list_tokenizers",
    "register_tokenizer",
]
