"""Raw-packet encoding and decoding with PyAV codec contexts (no container).

Working without a container keeps the tokens exactly the codec payload: no headers, no muxer
framing. What a decoder needs beyond the packets (Opus' OpusHead, AAC's AudioSpecificConfig)
is the encoder's extradata, which depends only on the codec settings, so decoders rebuild it
from the config instead of storing it with the tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from functools import cache

import av
import numpy as np
from av.audio.codeccontext import AudioCodecContext

from audiotok.tokenizers.base import TokenizerConfig

# Formats we can fill directly, best first (float avoids a quantisation step before the codec).
_FORMATS = ("flt", "fltp", "s16", "s16p", "s32", "s32p")
_INT_SCALE = {"s16": 32768.0, "s32": 2147483648.0}
_PCM_CHUNK_S = 0.02  # codecs without a frame size (PCM): 20 ms packets, as in telephony


@dataclass(frozen=True)
class PyAVCodecConfig(TokenizerConfig):
    """A codec setup run through PyAV; ``frame_rate`` is nominal bytes/s (``bit_rate / 8``).

    Attributes:
        encoder: FFmpeg encoder name, e.g. ``libopus``.
        decoder: FFmpeg decoder name, e.g. ``opus``.
        bit_rate: target bits per second.
        options: extra encoder options as sorted ``(key, value)`` pairs (hashable).
    """

    encoder: str = ""
    decoder: str = ""
    bit_rate: int = 0
    options: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class EncoderInfo:
    """Facts read from an opened encoder: samples per frame, input format, extradata."""

    frame_size: int
    sample_format: str
    extradata: bytes | None


def missing_codecs(encoder: str, decoder: str) -> str | None:
    """None when the bundled FFmpeg has both codecs, else which one is missing."""
    for name, kind in ((encoder, "encoder"), (decoder, "decoder")):
        try:
            av.codec.Codec(name, "w" if kind == "encoder" else "r")
        except Exception:  # PyAV raises UnknownCodecError (a ValueError) or FFmpeg errors
            return f"FFmpeg {kind} {name!r} is not in the FFmpeg bundled with PyAV {av.__version__}"
    return None


@cache
def encoder_info(config: PyAVCodecConfig) -> EncoderInfo:
    """Open an encoder once per config to learn its frame size and extradata."""
    ctx = _open_encoder(config)
    frame_size = ctx.frame_size or max(1, round(_PCM_CHUNK_S * config.sample_rate))
    return EncoderInfo(frame_size, ctx.format.name, ctx.extradata)


def encode_packets(config: PyAVCodecConfig, wave: np.ndarray) -> list[bytes]:
    """Encode float32 ``[samples]`` in [-1, 1] (a multiple of the frame size) into packets."""
    info = encoder_info(config)
    ctx = _open_encoder(config)
    packets: list[bytes] = []
    for start in range(0, wave.size, info.frame_size):
        chunk = wave[start : start + info.frame_size]
        frame = _make_frame(chunk, info.sample_format, config.sample_rate, pts=start)
        packets.extend(bytes(p) for p in ctx.encode(frame))
    packets.extend(bytes(p) for p in ctx.encode(None))  # flush delayed frames
    return packets


def decode_packets(config: PyAVCodecConfig, packets: list[bytes]) -> np.ndarray:
    """Decode packets with a fresh decoder; float32 mono ``[samples]``, unaligned."""
    ctx = av.codec.CodecContext.create(config.decoder, "r")
    assert isinstance(ctx, AudioCodecContext)
    ctx.sample_rate = config.sample_rate
    ctx.layout = "mono"
    extradata = encoder_info(config).extradata
    if extradata:
        ctx.extradata = extradata
    chunks: list[np.ndarray] = []
    for payload in packets:
        chunks.extend(_frame_samples(f, config) for f in ctx.decode(av.Packet(payload)))
    chunks.extend(_frame_samples(f, config) for f in ctx.decode(None))
    return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)


def _open_encoder(config: PyAVCodecConfig) -> AudioCodecContext:
    ctx = av.codec.CodecContext.create(config.encoder, "w")
    assert isinstance(ctx, AudioCodecContext)
    ctx.sample_rate = config.sample_rate
    ctx.layout = "mono"
    ctx.format = _pick_format(ctx)
    ctx.time_base = Fraction(1, config.sample_rate)
    if config.bit_rate:
        ctx.bit_rate = config.bit_rate
    if config.options:
        ctx.options = dict(config.options)
    ctx.open()
    return ctx


def _pick_format(ctx: AudioCodecContext) -> str:
    supported = [f.name for f in ctx.codec.audio_formats or ()]
    for name in _FORMATS:
        if name in supported:
            return name
    raise ValueError(f"{ctx.codec.name}: no usable sample format among {supported}")


def _make_frame(chunk: np.ndarray, fmt: str, sample_rate: int, pts: int) -> av.AudioFrame:
    """A mono frame ``[1, samples]`` in the encoder's sample format."""
    packed = fmt.rstrip("p")
    scaled = np.round(chunk.astype(np.float64) * (_INT_SCALE.get(packed, 1.0) - 1))
    if packed == "s16":
        data: np.ndarray = scaled.astype(np.int16)
    elif packed == "s32":
        data = scaled.astype(np.int32)
    else:
        data = chunk.astype(np.float32)
    frame = av.AudioFrame.from_ndarray(data[None, :], format=fmt, layout="mono")
    frame.sample_rate = sample_rate
    frame.pts = pts
    frame.time_base = Fraction(1, sample_rate)
    return frame


def _frame_samples(frame: av.AudioFrame, config: PyAVCodecConfig) -> np.ndarray:
    """A decoded frame as float32 mono ``[samples]``."""
    if frame.sample_rate != config.sample_rate:
        # Opus decoders always output 48 kHz; configs must run at the decoder's rate.
        raise RuntimeError(
            f"{config.decoder} decoded at {frame.sample_rate} Hz, expected {config.sample_rate} Hz"
        )
    data = frame.to_ndarray()
    channels = len(frame.layout.channels)
    if frame.format.is_planar:
        data = data.mean(axis=0) if channels > 1 else data[0]
    else:
        data = data.reshape(-1, channels).mean(axis=1)
    scale = _INT_SCALE.get(frame.format.name.rstrip("p"), 1.0)
    return (data.astype(np.float64) / scale).astype(np.float32)
