"""Classic codecs carried by PyAV's bundled FFmpeg: opus, mp3, aac, amrnb, g722, mulaw.

Sample rates, each the codec's own working rate for speech:

* ``opus``: 48 kHz. FFmpeg's Opus decoders always output 48 kHz, so a 48 kHz tokenizer needs
  no resampler in the decode path, and the decoder applies the encoder's pre-skip (from the
  OpusHead extradata) itself. The encoder still picks the audio bandwidth from the bitrate
  (narrow-band at 6 kb/s), so no bits are wasted on 16 kHz input. Constant bitrate, so the
  measured bitrate is the nominal one even across silences.
* ``mp3``: 16 kHz, MPEG-2 Layer III (LAME, CBR), whose bitrates suit speech (8-160 kb/s).
* ``aac``: 16 kHz, FFmpeg's native AAC-LC encoder.
* ``amrnb``: 8 kHz, the AMR-NB modes 4.75-12.2 kb/s.
* ``g722``: 16 kHz at 64 kb/s; ``mulaw``: G.711 µ-law, 8 kHz at 64 kb/s.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import ClassVar

import numpy as np

from audiotok.tokenizers.base import TokenizerConfig
from audiotok.tokenizers.classic import _pyav
from audiotok.tokenizers.classic._bitstream import BitstreamTokenizer
from audiotok.tokenizers.classic._pyav import PyAVCodecConfig
from audiotok.tokenizers.registry import register_tokenizer

_MP3_MPEG2_KBPS = (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)
_AMRNB_KBPS = (4.75, 5.15, 5.9, 6.7, 7.4, 7.95, 10.2, 12.2)
_KBPS = re.compile(r"^(\d+(?:\.\d+)?)kbps$")


def _config(
    encoder: str, decoder: str, sample_rate: int, bit_rate: int, **options: str
) -> PyAVCodecConfig:
    return PyAVCodecConfig(
        sample_rate=sample_rate,
        frame_rate=bit_rate / 8,
        codebook_sizes=(256,),
        encoder=encoder,
        decoder=decoder,
        bit_rate=bit_rate,
        options=tuple(sorted(options.items())),
    )


def _parse_kbps(
    option: str | None,
    default: float,
    *,
    allowed: Collection[float] | None = None,
    limits: tuple[float, float] | None = None,
) -> int:
    """``"12kbps"`` or ``"12.2kbps"`` -> bits per second; None -> ``default``."""
    if option is None:
        return round(default * 1000)
    match = _KBPS.match(option.strip())
    if match is None:
        raise ValueError(f"expected a bitrate like '{default:g}kbps', got {option!r}")
    kbps = float(match.group(1))
    if allowed is not None and not any(abs(kbps - a) < 1e-9 for a in allowed):
        raise ValueError(f"{kbps:g} kb/s is not one of {', '.join(f'{a:g}' for a in allowed)}")
    if limits is not None and not limits[0] <= kbps <= limits[1]:
        raise ValueError(f"{kbps:g} kb/s is outside {limits[0]:g}-{limits[1]:g} kb/s")
    return round(kbps * 1000)


def _fixed_rate(option: str | None, kbps: int) -> None:
    if option not in (None, f"{kbps}kbps"):
        raise ValueError(f"this codec only runs at {kbps} kb/s, got option {option!r}")


def parse_opus(option: str | None) -> PyAVCodecConfig:
    # libopus accepts 6-256 kb/s for one channel; CBR ("vbr off") keeps the rate nominal.
    bit_rate = _parse_kbps(option, 12, limits=(6, 256))
    return _config("libopus", "opus", 48000, bit_rate, vbr="off")


def parse_mp3(option: str | None) -> PyAVCodecConfig:
    return _config(
        "libmp3lame", "mp3float", 16000, _parse_kbps(option, 32, allowed=_MP3_MPEG2_KBPS)
    )


def parse_aac(option: str | None) -> PyAVCodecConfig:
    # FFmpeg's AAC encoder caps one 16 kHz channel at 6144 bits per 1024 samples = 96 kb/s.
    return _config("aac", "aac", 16000, _parse_kbps(option, 32, limits=(8, 96)))


def parse_amrnb(option: str | None) -> PyAVCodecConfig:
    bit_rate = _parse_kbps(option, 12.2, allowed=_AMRNB_KBPS)
    return _config("libopencore_amrnb", "amrnb", 8000, bit_rate)


def parse_g722(option: str | None) -> PyAVCodecConfig:
    _fixed_rate(option, 64)
    return _config("g722", "g722", 16000, 64000)


def parse_mulaw(option: str | None) -> PyAVCodecConfig:
    _fixed_rate(option, 64)
    return _config("pcm_mulaw", "pcm_mulaw", 8000, 64000)


class PyAVCodecTokenizer(BitstreamTokenizer):
    """A codec run through PyAV codec contexts; tokens are the raw packet bytes.

    Subclasses name their FFmpeg encoder and decoder so `availability` can check them
    before any config is built.
    """

    encoder_name: ClassVar[str]
    decoder_name: ClassVar[str]

    def __init__(self, config: TokenizerConfig, spec: str) -> None:
        if not isinstance(config, PyAVCodecConfig):
            raise TypeError(f"{spec}: expected a PyAVCodecConfig, got {type(config).__name__}")
        super().__init__(config, spec)
        self.codec_config = config

    @classmethod
    def availability(cls) -> str | None:
        return _pyav.missing_codecs(cls.encoder_name, cls.decoder_name)

    @property
    def frame_samples(self) -> int:
        return _pyav.encoder_info(self.codec_config).frame_size

    def _encode_packets(self, wave: np.ndarray) -> list[bytes]:
        return _pyav.encode_packets(self.codec_config, wave)

    def _decode_packets(self, packets: list[bytes]) -> np.ndarray:
        return _pyav.decode_packets(self.codec_config, packets)


@register_tokenizer("opus", parse_option=parse_opus, presets=("6kbps", "12kbps", "24kbps"))
class OpusTokenizer(PyAVCodecTokenizer):
    encoder_name = "libopus"
    decoder_name = "opus"


@register_tokenizer("mp3", parse_option=parse_mp3, presets=("32kbps", "64kbps"))
class MP3Tokenizer(PyAVCodecTokenizer):
    encoder_name = "libmp3lame"
    decoder_name = "mp3float"


@register_tokenizer("aac", parse_option=parse_aac, presets=("32kbps", "64kbps"))
class AACTokenizer(PyAVCodecTokenizer):
    encoder_name = "aac"
    decoder_name = "aac"


@register_tokenizer("amrnb", parse_option=parse_amrnb, presets=("12.2kbps", "4.75kbps"))
class AMRNBTokenizer(PyAVCodecTokenizer):
    encoder_name = "libopencore_amrnb"
    decoder_name = "amrnb"


@register_tokenizer("g722", parse_option=parse_g722, presets=(None,))
class G722Tokenizer(PyAVCodecTokenizer):
    encoder_name = "g722"
    decoder_name = "g722"


@register_tokenizer("mulaw", parse_option=parse_mulaw, presets=(None,))
class MulawTokenizer(PyAVCodecTokenizer):
    encoder_name = "pcm_mulaw"
    decoder_name = "pcm_mulaw"
