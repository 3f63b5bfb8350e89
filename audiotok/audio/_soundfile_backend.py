"""The libsndfile backend (via soundfile): WAV family, FLAC, Ogg Vorbis/Opus, MP3.

It is tried first because it is exact about lengths and seeks sample-accurately.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import soundfile as sf

from audiotok.audio._source import BackendFailure
from audiotok.audio.types import AudioInfo

BACKEND = "soundfile"
# After a failed read, what is left of the block is re-read in steps this small, so that one
# bad spot loses at most this many frames instead of a whole block.
_SALVAGE_FRAMES = 4096
# libsndfile reports this (SF_COUNT_MAX) when it does not know a length.
_UNKNOWN_FRAMES = 2**62

_CODECS = {
    "PCM_U8": "pcm_u8",
    "PCM_S8": "pcm_s8",
    "PCM_16": "pcm_s16",
    "PCM_24": "pcm_s24",
    "PCM_32": "pcm_s32",
    "FLOAT": "pcm_f32",
    "DOUBLE": "pcm_f64",
    "ULAW": "pcm_mulaw",
    "ALAW": "pcm_alaw",
    "VORBIS": "vorbis",
    "OPUS": "opus",
    "MPEG_LAYER_I": "mp1",
    "MPEG_LAYER_II": "mp2",
    "MPEG_LAYER_III": "mp3",
}
_FORMATS = {"WAVEX": "wav", "MP3": "mp3"}
# MP3 lengths are estimates (Xing header or bitrate); elsewhere a shortfall means a cut file.
_INEXACT_LENGTH_FORMATS = frozenset({"MP3"})


def open_source(path: str) -> SoundFileSource:
    """Open ``path`` with libsndfile; raises ``BackendFailure`` if it cannot."""
    try:
        handle = sf.SoundFile(path)
    except MemoryError:
        raise
    except Exception as exc:  # libsndfile reports every problem as a generic error
        raise BackendFailure(BACKEND, str(exc)) from exc
    if handle.samplerate <= 0:
        handle.close()
        raise BackendFailure(BACKEND, "sample rate is 0", reason="zero_sample_rate")
    return SoundFileSource(path, handle)


class SoundFileSource:
    """A file open in libsndfile; see ``audiotok.audio._source.Source``."""

    def __init__(self, path: str, handle: sf.SoundFile) -> None:
        self._file = handle
        self.cut_short: str | None = None
        frames = handle.frames if 0 <= handle.frames < _UNKNOWN_FRAMES else None
        fmt = handle.format
        self._exact_length = frames is not None and fmt not in _INEXACT_LENGTH_FORMATS
        self.info = AudioInfo(
            path=path,
            sample_rate=int(handle.samplerate),
            channels=int(handle.channels),
            num_frames=frames,
            duration=None if frames is None else frames / handle.samplerate,
            format=_FORMATS.get(fmt, fmt.lower()),
            codec="flac" if fmt == "FLAC" else _CODECS.get(handle.subtype, handle.subtype.lower()),
            backend=BACKEND,
        )

    def blocks(self, start: int, stop: int | None, block_frames: int) -> Iterator[np.ndarray]:
        """Yield float32 ``[channels, n]`` blocks of frames ``[start, stop)``.

        Each block is a transposed view of one reused buffer, valid until the next block.
        """
        total = self.info.num_frames
        if total is not None:
            stop = total if stop is None else min(stop, total)
            if start >= stop:
                return
        if start:
            self._file.seek(start)
        # One reusable [block, channels] buffer: libsndfile fills it in place.
        buffer = np.empty((block_frames, self.info.channels), dtype=np.float32)
        position = start
        while stop is None or position < stop:
            want = block_frames if stop is None else min(block_frames, stop - position)
            got = self._read_into(buffer[:want])
            if got == 0:
                break
            position += got
            # A view, not a copy: the consumer is done with it before the next read.
            yield buffer[:got].T
            if self.cut_short is not None:
                return
        if self._exact_length and stop is not None and position < stop:
            self.cut_short = f"header declares {total} frames, data ends at frame {position}"

    def _read_into(self, out: np.ndarray) -> int:
        """Fill ``out`` ([n, channels]) from the current position; return frames read."""
        position = self._file.tell()
        try:
            return len(self._file.read(out.shape[0], dtype="float32", out=out))
        except MemoryError:
            raise
        except Exception as exc:
            self.cut_short = f"a read from frame {position} failed: {exc}"
            return self._salvage(out, position)

    def _salvage(self, out: np.ndarray, position: int) -> int:
        # libsndfile discards a whole read when it hits damage; re-read in small steps to keep
        # the good frames that precede it.
        try:
            self._file.seek(position)
        except Exception:
            return 0
        got = 0
        while got < out.shape[0]:
            step = min(_SALVAGE_FRAMES, out.shape[0] - got)
            try:
                n = len(self._file.read(step, dtype="float32", out=out[got : got + step]))
            except Exception:
                break
            if n == 0:
                break
            got += n
        return got

    def close(self) -> None:
        self._file.close()
