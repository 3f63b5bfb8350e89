"""Read a file's first bytes to explain why decoders failed, and to spot cut-short WAVs.

The decoders' own messages do not separate "truncated header", "zero sample rate" and "unknown
codec" (libsndfile says "Malformed 'fmt ' chunk" for both of the last two), so the loader looks
at the header itself.  Nothing here decodes audio; at most ``_HEAD_BYTES`` are read.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

_HEAD_BYTES = 1 << 16
# WAVE format tags every backend here decodes as plain PCM / float.
_WAV_PCM_TAGS = frozenset({0x0001, 0x0003})
_WAV_EXTENSIBLE = 0xFFFE
# libsndfile and FFmpeg write 0 or 0xFFFFFFFF as the data size when streaming to a pipe.
_WAV_UNKNOWN_SIZES = frozenset({0, 0xFFFFFFFF})


@dataclass(frozen=True)
class HeaderFacts:
    """What the first bytes of a file say.

    ``container`` is ``None`` when no known audio magic was found (the file is likely not
    audio).  ``problem`` is an ``AudioLoadError`` reason the header alone proves, or ``None``.
    ``missing_bytes`` is how many data bytes a WAV header promised but the file lacks.
    """

    container: str | None
    problem: str | None = None
    detail: str = ""
    missing_bytes: int = 0


def sniff(path: str) -> HeaderFacts:
    """Inspect the header of ``path`` (which must exist and be non-empty)."""
    size = os.path.getsize(path)
    with open(path, "rb") as handle:
        head = handle.read(_HEAD_BYTES)
    if head[:4] in (b"RIFF", b"RIFX", b"RF64") or _is_prefix(head, b"RIFF"):
        return _sniff_wav(head, size)
    if head.startswith(b"fLaC") or _is_prefix(head, b"fLaC"):
        # magic (4) + STREAMINFO block header (4) + STREAMINFO body (34)
        return _need(head, "flac", 42)
    if head.startswith(b"OggS") or _is_prefix(head, b"OggS"):
        return _sniff_ogg(head)
    if head.startswith(b"ID3") or _is_prefix(head, b"ID3"):
        return _sniff_id3(head, size)
    if head[4:8] == b"ftyp" or (len(head) < 8 and _is_prefix(head[4:], b"ftyp")):
        box = struct.unpack(">I", head[:4])[0] if len(head) >= 4 else 8
        return _need(head, "mp4", max(box, 8) + 8)
    if head[:4] in (b"FORM", b"caff", b"\x1aE\xdf\xa3"):
        return HeaderFacts(container="other")
    return _sniff_frame_sync(head)


def _is_prefix(head: bytes, magic: bytes) -> bool:
    """True when the whole file is a proper prefix of ``magic`` (cut inside the magic)."""
    return 0 < len(head) < len(magic) and magic.startswith(head)


def _need(head: bytes, container: str, length: int) -> HeaderFacts:
    if len(head) < length:
        detail = f"{container} header needs {length} bytes, file has {len(head)}"
        return HeaderFacts(container, "truncated_header", detail)
    return HeaderFacts(container)


def _sniff_ogg(head: bytes) -> HeaderFacts:
    # First page: 27-byte header, then a segment table whose entries sum to the body length.
    if len(head) < 27:
        return _need(head, "ogg", 27)
    segments = head[26]
    if len(head) < 27 + segments:
        return _need(head, "ogg", 27 + segments)
    return _need(head, "ogg", 27 + segments + sum(head[27 : 27 + segments]))


def _sniff_id3(head: bytes, size: int) -> HeaderFacts:
    if len(head) < 10:
        return _need(head, "mp3", 10)
    # ID3v2 sizes are "syncsafe": 7 bits per byte.
    tag = 0
    for byte in head[6:10]:
        tag = (tag << 7) | (byte & 0x7F)
    end = 10 + tag + 4  # the tag, then at least one MPEG frame header
    if size < end:
        return HeaderFacts("mp3", "truncated_header", f"ID3 tag needs {end} bytes, file has {size}")
    return HeaderFacts("mp3")


# MPEG-1 and MPEG-2/2.5 Layer III bitrates (kbit/s) by bitrate index; 0 is "free format".
_MP3_KBPS = {
    True: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    False: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_MP3_RATES = (44100, 48000, 32000)


def _sniff_frame_sync(head: bytes) -> HeaderFacts:
    """Raw MPEG audio or ADTS AAC: no magic, just a frame header; check that one frame fits.

    Only a header whose every field is valid counts, so random bytes rarely pass for audio.
    """
    if len(head) < 4 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return HeaderFacts(container=None)
    version, layer = (head[1] >> 3) & 3, (head[1] >> 1) & 3
    if version == 0b00 and layer == 0 and len(head) >= 7:  # ADTS: 0xFFF, layer 00
        frame = ((head[3] & 3) << 11) | (head[4] << 3) | (head[5] >> 5)
        return _need(head, "aac", frame) if frame >= 7 else HeaderFacts(container=None)
    bitrate_index, rate_index = head[2] >> 4, (head[2] >> 2) & 3
    if layer != 0b01 or version == 0b01 or bitrate_index in (0, 15) or rate_index == 3:
        return HeaderFacts(container=None)  # only Layer III is checked further
    mpeg1 = version == 0b11
    rate = _MP3_RATES[rate_index] >> {0b11: 0, 0b10: 1, 0b00: 2}[version]
    kbps = _MP3_KBPS[mpeg1][bitrate_index]
    frame = (144 if mpeg1 else 72) * kbps * 1000 // rate + ((head[2] >> 1) & 1)
    return _need(head, "mp3", frame)


def _sniff_wav(head: bytes, size: int) -> HeaderFacts:
    if len(head) < 12:
        return _need(head, "wav", 12)
    if head[8:12] != b"WAVE":
        return HeaderFacts(container=None)
    endian = ">" if head[:4] == b"RIFX" else "<"
    pos, fmt = 12, None
    while pos + 8 <= len(head):
        chunk_id = head[pos : pos + 4]
        chunk_size = struct.unpack(endian + "I", head[pos + 4 : pos + 8])[0]
        body = pos + 8
        if chunk_id == b"fmt ":
            if chunk_size < 16 or body + 16 > len(head):
                return HeaderFacts("wav", "truncated_header", "fmt chunk cut short")
            fmt = _parse_fmt(head[body : body + chunk_size], endian)
        elif chunk_id == b"data":
            if fmt is None:
                return HeaderFacts("wav", "truncated_header", "data chunk before fmt chunk")
            return _check_fmt_and_data(fmt, head[:4], chunk_size, size - body)
        pos = body + chunk_size + (chunk_size & 1)  # chunks are padded to even length
    if size > len(head):
        return HeaderFacts("wav")  # the header runs past what we read: do not guess
    missing = "fmt and data chunks" if fmt is None else "data chunk"
    return HeaderFacts("wav", "truncated_header", f"file ends before the {missing}")


@dataclass(frozen=True)
class _Fmt:
    tag: int
    sample_rate: int


def _parse_fmt(body: bytes, endian: str) -> _Fmt:
    tag, _channels, rate = struct.unpack(endian + "HHI", body[:8])
    if tag == _WAV_EXTENSIBLE and len(body) >= 26:
        # WAVEFORMATEXTENSIBLE: the real tag is the first two bytes of the SubFormat GUID.
        tag = struct.unpack(endian + "H", body[24:26])[0]
    return _Fmt(tag, rate)


def _check_fmt_and_data(fmt: _Fmt, riff: bytes, declared: int, available: int) -> HeaderFacts:
    missing = 0
    # RF64 keeps the real size in its ds64 chunk; the 32-bit field is a placeholder.
    if riff != b"RF64" and declared not in _WAV_UNKNOWN_SIZES and declared > available:
        missing = declared - available
    if fmt.sample_rate == 0:
        return HeaderFacts("wav", "zero_sample_rate", "fmt chunk says 0 Hz", missing)
    if fmt.tag not in _WAV_PCM_TAGS:
        # Only consulted when no backend decoded the file: then the codec is the likely cause.
        detail = f"WAVE format tag 0x{fmt.tag:04x}"
        return HeaderFacts("wav", "unsupported_codec", detail, missing)
    return HeaderFacts("wav", missing_bytes=missing)
