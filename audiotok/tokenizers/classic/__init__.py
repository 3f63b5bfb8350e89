"""Classic speech/audio codecs as tokenizers: their tokens are the bytes of the real bitstream.

`pyav_codecs` registers the codecs FFmpeg (through PyAV) carries: ``opus``, ``mp3``, ``aac``,
``amrnb``, ``g722`` and ``mulaw``. `codec2` registers ``codec2`` through the ``c2enc``/``c2dec``
tools of the Debian ``codec2`` package. Both share `BitstreamTokenizer`, which turns packets
into `Tokens` and keeps the decoded audio time-aligned with the input.
"""

from audiotok.tokenizers.classic._bitstream import Alignment, BitstreamTokenizer

__all__ = ["Alignment", "BitstreamTokenizer"]
