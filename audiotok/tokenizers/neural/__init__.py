"""Neural audio codecs backed by transformers models (EnCodec, DAC, Mimi, X-codec2).

Each family module registers its specs; all share `HFCodecTokenizer` from `_hf`.
"""

from audiotok.tokenizers.neural._hf import HFCodecConfig, HFCodecTokenizer

__all__ = ["HFCodecConfig", "HFCodecTokenizer"]
