"""Codec 2, the low-bitrate speech vocoder, through the ``c2enc``/``c2dec`` command-line tools.

Codec 2 runs at 8 kHz and codes each 20 or 40 ms frame into a fixed number of bits. ``c2enc``
writes each frame rounded up to whole bytes; for modes whose frames are not a whole number of
bytes (700C: 28 bits, 1300: 52 bits, 450: 18 bits) that spends up to 14 % more than the mode's
rate, so the tokens pack just enough frames per packet to fill whole bytes (700C: two frames
in 7 bytes) and decoding unpacks them again. Every mode's tokens thus cost exactly its rate.

Codec 2 synthesises its own phase, so its delay is measured on amplitude envelopes: decoded
audio is aligned to within a few milliseconds, not sample-accurately.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from audiotok.tokenizers.base import TokenizerConfig
from audiotok.tokenizers.classic._bitstream import AlignMethod, BitstreamTokenizer
from audiotok.tokenizers.registry import register_tokenizer

SAMPLE_RATE = 8000
# mode -> (bits per frame, samples per frame at 8 kHz), from the Codec 2 sources.
MODES: dict[str, tuple[int, int]] = {
    "3200": (64, 160),
    "2400": (48, 160),
    "1600": (64, 320),
    "1400": (56, 320),
    "1300": (52, 320),
    "1200": (48, 320),
    "700C": (28, 320),
    "450": (18, 320),
}
_TIMEOUT_S = 600


@dataclass(frozen=True)
class Codec2Config(TokenizerConfig):
    """A Codec 2 mode; ``frame_rate`` is nominal bytes per second (mode bitrate / 8)."""

    mode: str = "3200"

    @property
    def bits_per_frame(self) -> int:
        return MODES[self.mode][0]

    @property
    def samples_per_frame(self) -> int:
        return MODES[self.mode][1]

    @property
    def frames_per_packet(self) -> int:
        """Fewest frames whose bits fill whole bytes."""
        return 8 // math.gcd(self.bits_per_frame, 8)


def parse_codec2(option: str | None) -> Codec2Config:
    """``3200``, ``1600``, ``700`` (= ``700C``), ...; None -> 3200."""
    mode = "3200" if option is None else option.strip().upper()
    mode = "700C" if mode == "700" else mode
    if mode not in MODES:
        raise ValueError(f"unknown Codec 2 mode {option!r}; known: {', '.join(MODES)}")
    bitrate = int(mode.rstrip("C"))
    return Codec2Config(
        sample_rate=SAMPLE_RATE, frame_rate=bitrate / 8, codebook_sizes=(256,), mode=mode
    )


@register_tokenizer("codec2", parse_option=parse_codec2, presets=("3200", "1600", "700"))
class Codec2Tokenizer(BitstreamTokenizer):
    """Codec 2 at 8 kHz; one packet = `Codec2Config.frames_per_packet` frames, bit-packed."""

    align_method: ClassVar[AlignMethod] = "envelope"

    def __init__(self, config: TokenizerConfig, spec: str) -> None:
        if not isinstance(config, Codec2Config):
            raise TypeError(f"{spec}: expected a Codec2Config, got {type(config).__name__}")
        super().__init__(config, spec)
        self.codec_config = config

    @classmethod
    def availability(cls) -> str | None:
        for tool in ("c2enc", "c2dec"):
            if shutil.which(tool) is None:
                return f"{tool} not found on PATH; install the Debian package codec2"
        return None

    @property
    def frame_samples(self) -> int:
        cfg = self.codec_config
        return cfg.samples_per_frame * cfg.frames_per_packet

    def _encode_packets(self, wave: np.ndarray) -> list[bytes]:
        cfg = self.codec_config
        with tempfile.TemporaryDirectory(prefix="audiotok-codec2-") as tmp:
            raw, bit = Path(tmp) / "in.raw", Path(tmp) / "out.bit"
            pcm = np.round(np.clip(wave, -1.0, 1.0) * 32767).astype("<i2")
            pcm.tofile(raw)
            _run_tool("c2enc", cfg.mode, raw, bit)
            data = bit.read_bytes()  # the bytes c2enc wrote: what the stream really costs
        num_frames = wave.size // cfg.samples_per_frame
        frame_bytes = _frame_bytes(cfg.bits_per_frame)
        if len(data) != num_frames * frame_bytes:
            raise RuntimeError(
                f"c2enc {cfg.mode} wrote {len(data)} bytes for {num_frames} frames, "
                f"expected {num_frames * frame_bytes}"
            )
        frames = np.frombuffer(data, dtype=np.uint8).reshape(num_frames, frame_bytes)
        return _pack(frames, cfg.bits_per_frame, cfg.frames_per_packet)

    def _decode_packets(self, packets: list[bytes]) -> np.ndarray:
        cfg = self.codec_config
        frames = _unpack(packets, cfg.bits_per_frame, cfg.frames_per_packet)
        with tempfile.TemporaryDirectory(prefix="audiotok-codec2-") as tmp:
            bit, raw = Path(tmp) / "in.bit", Path(tmp) / "out.raw"
            bit.write_bytes(frames.tobytes())
            _run_tool("c2dec", cfg.mode, bit, raw)
            pcm = np.fromfile(raw, dtype="<i2")
        return (pcm.astype(np.float32) / 32768.0).astype(np.float32)


def _frame_bytes(bits: int) -> int:
    return (bits + 7) // 8


def _pack(frames: np.ndarray, bits: int, per_packet: int) -> list[bytes]:
    """``[frames, frame_bytes]`` c2enc frames -> packets of ``per_packet`` dense frames.

    c2enc writes each frame's bits most-significant first and leaves the unused low bits of
    its last byte zero, so the first ``bits`` bits of each frame are the whole frame.
    """
    frame_bits = np.unpackbits(frames, axis=1)[:, :bits]  # [frames, bits]
    grouped = frame_bits.reshape(-1, per_packet * bits)  # [packets, packet bits]
    return [row.tobytes() for row in np.packbits(grouped, axis=1)]


def _unpack(packets: list[bytes], bits: int, per_packet: int) -> np.ndarray:
    """Inverse of `_pack`: ``[frames, frame_bytes]`` as c2dec reads them."""
    if not packets:
        return np.zeros((0, _frame_bytes(bits)), dtype=np.uint8)
    packed = np.frombuffer(b"".join(packets), dtype=np.uint8).reshape(len(packets), -1)
    frame_bits = np.unpackbits(packed, axis=1)[:, : per_packet * bits].reshape(-1, bits)
    padded = np.zeros((frame_bits.shape[0], 8 * _frame_bytes(bits)), dtype=np.uint8)
    padded[:, :bits] = frame_bits
    return np.packbits(padded, axis=1)


def _run_tool(tool: str, mode: str, src: Path, dst: Path) -> None:
    result = subprocess.run(
        [tool, mode, str(src), str(dst)], capture_output=True, timeout=_TIMEOUT_S, check=False
    )
    if result.returncode != 0:
        detail = result.stderr.decode(errors="replace").strip()
        raise RuntimeError(f"{tool} {mode} failed with exit code {result.returncode}: {detail}")
