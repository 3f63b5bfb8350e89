"""Imports every built-in tokenizer module so that its families register."""

from audiotok.tokenizers.classic import codec2, pyav_codecs  # noqa: F401
from audiotok.tokenizers.neural import dac, encodec, mimi, xcodec2  # noqa: F401
from audiotok.tokenizers.s3 import tokenizer as s3_tokenizer  # noqa: F401
