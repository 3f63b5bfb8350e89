"""audiotok: a speech and audio token pipeline (foundation layer).

Audio I/O, spectral features, `Tokens`, and every tokenizer behind `get_tokenizer(spec)`.
"""

from audiotok.errors import (
    AudioLoadError,
    AudiotokError,
    TokenizerUnavailableError,
    UnknownTokenizerError,
    WeightsNotFoundError,
)
from audiotok.tokenizers import AudioTokenizer, get_tokenizer, known_specs, list_tokenizers
from audiotok.tokens import Tokens

__version__ = "0.1.0"

__all__ = [
    "AudioLoadError",
    "AudioTokenizer",
    "AudiotokError",
    "TokenizerUnavailableError",
    "Tokens",
    "UnknownTokenizerError",
    "WeightsNotFoundError",
    "get_tokenizer",
    "known_specs",
    "list_tokenizers",
]
