"""The one loader for every format: probe, load whole (or a slice), or stream in chunks.

All paths go through the same pipeline: a backend decodes ``chunk_seconds`` of source audio at a
time, each block is checked for NaN/inf, downmixed and resampled with a streaming resampler, and
only the (usually much smaller) converted output is kept.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator

import numpy as np

from audiotok.audio._open import checked_path, header_facts, open_blocks, open_info_source
from audiotok.audio._source import BackendFailure, Source
from audiotok.audio._stream import Accumulator, BlockConverter
from audiotok.audio.types import Audio, AudioInfo, TruncatedAudioWarning
from audiotok.errors import AudioLoadError

PathLike = str | os.PathLike[str]

# Extensions the loader is tested on.  Other containers FFmpeg reads may work too.
SUPPORTED_EXTENSIONS: frozenset[str] = frozenset(
    {".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".aac", ".mp4"}
)


def audio_info(path: PathLike) -> AudioInfo:
    """Probe ``path`` without decoding it; raises ``AudioLoadError``."""
    source = open_info_source(checked_path(path))
    source.close()
    return source.info


def load_audio(
    path: PathLike,
    *,
    sample_rate: int | None = None,
    mono: bool = False,
    offset: float = 0.0,
    duration: float | None = None,
    min_duration: float | None = None,
    chunk_seconds: float = 60.0,
) -> Audio:
    """Decode ``path`` to float32 ``[channels, frames]`` (``[1, frames]`` when ``mono``).

    ``sample_rate`` resamples (soxr, VHQ) to that rate; ``offset`` and ``duration`` select a
    slice in seconds of the source; ``min_duration`` (seconds, of what was loaded) raises
    ``too_short``.  At most ``chunk_seconds`` of source-rate audio is in memory at once.
    Raises ``AudioLoadError``; warns ``TruncatedAudioWarning`` for a file cut short.
    """
    _check_arguments(sample_rate, offset, duration, chunk_seconds)
    if min_duration is not None and min_duration < 0:
        raise ValueError(f"min_duration must be >= 0, got {min_duration}")
    name = checked_path(path)
    reader = _ChunkReader(name, sample_rate, mono, offset, duration, chunk_seconds)
    with reader:
        output = Accumulator(reader.converter.out_channels, reader.expected_frames())
        for chunk in reader:
            output.append(chunk)
    audio = Audio(output.result(), reader.converter.out_rate, name)
    if min_duration is not None and audio.duration < min_duration:
        detail = f"{audio.duration:.3f} s loaded, at least {min_duration:g} s required"
        raise AudioLoadError(name, "too_short", detail)
    return audio


def iter_audio_chunks(
    path: PathLike,
    *,
    sample_rate: int | None = None,
    mono: bool = False,
    chunk_seconds: float = 60.0,
) -> Iterator[np.ndarray]:
    """Stream ``path`` as float32 ``[channels, n]`` chunks at ``sample_rate``.

    Each chunk holds about ``chunk_seconds`` of audio; the chunks joined equal
    ``load_audio(path, sample_rate=..., mono=...).samples``.  Arguments and the path are
    checked now; the file is opened on the first ``next()``.
    """
    _check_arguments(sample_rate, 0.0, None, chunk_seconds)
    name = checked_path(path)
    return _iterate(_ChunkReader(name, sample_rate, mono, 0.0, None, chunk_seconds))


def _iterate(reader: _ChunkReader) -> Iterator[np.ndarray]:
    with reader:
        yield from reader


def _check_arguments(
    sample_rate: int | None, offset: float, duration: float | None, chunk_seconds: float
) -> None:
    if sample_rate is not None and sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    if offset < 0:
        raise ValueError(f"offset must be >= 0, got {offset}")
    if duration is not None and duration < 0:
        raise ValueError(f"duration must be >= 0, got {duration}")
    if chunk_seconds <= 0:
        raise ValueError(f"chunk_seconds must be positive, got {chunk_seconds}")


class _ChunkReader:
    """Opened source + converter; iterating yields converted ``[channels, m]`` chunks."""

    def __init__(
        self,
        path: str,
        sample_rate: int | None,
        mono: bool,
        offset: float,
        duration: float | None,
        chunk_seconds: float,
    ) -> None:
        self.path = path
        self._offset, self._duration = offset, duration
        self._chunk_seconds = chunk_seconds
        self._sample_rate, self._mono = sample_rate, mono
        self._source: Source | None = None

    def __enter__(self) -> _ChunkReader:
        opened = open_blocks(self.path, self._offset, self._duration, self._chunk_seconds)
        self._source, self._blocks = opened.source, opened.blocks
        # Source frames [start, stop); the backend clamps ``stop`` to the real length.
        self.start, self.stop = opened.start, opened.stop
        info = self._source.info
        out_rate = self._sample_rate or info.sample_rate
        self.converter = BlockConverter(info.sample_rate, out_rate, info.channels, self._mono)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._source is not None:
            self._source.close()

    def expected_frames(self) -> int | None:
        """Output frames the read should give, when the source knows its length."""
        assert self._source is not None
        total = self._source.info.num_frames
        if total is None:
            return None
        stop = total if self.stop is None else min(self.stop, total)
        return self.converter.expected_frames(max(stop - self.start, 0))

    def __iter__(self) -> Iterator[np.ndarray]:
        assert self._source is not None
        position = self.start
        try:
            for block in self._blocks:
                self._check_finite(block, position)
                position += block.shape[1]
                chunk = self.converter.push(block)
                # Drop the source-rate block before the backend decodes the next one.
                del block
                if chunk.shape[1]:
                    yield chunk
        except BackendFailure as failure:
            reason = failure.reason or "decode_failed"
            raise AudioLoadError(self.path, reason, str(failure)) from failure
        tail = self.converter.flush()
        if tail.shape[1]:
            yield tail
        self._warn_if_cut_short(position)

    def _check_finite(self, block: np.ndarray, position: int) -> None:
        # max/min propagate NaN and inf without allocating; locate the culprit only if needed.
        if np.isfinite(block.max(initial=0.0)) and np.isfinite(block.min(initial=0.0)):
            return
        finite = np.isfinite(block)
        if not finite.all():
            first = position + int(np.argmin(finite.all(axis=0)))
            seconds = first / self.converter.in_rate
            detail = f"NaN or infinite sample at frame {first} ({seconds:.3f} s)"
            raise AudioLoadError(self.path, "non_finite_samples", detail)

    def _warn_if_cut_short(self, position: int) -> None:
        assert self._source is not None
        detail = self._source.cut_short
        if detail is None and (self.stop is None or position < self.stop):
            # libsndfile quietly shortens a WAV whose data chunk is cut; the header tells.
            missing = header_facts(self.path).missing_bytes
            if missing:
                detail = f"WAV header promises {missing} more data bytes than the file holds"
        if detail is not None:
            message = f"{self.path}: file ends early, returning the audio present ({detail})"
            warnings.warn(message, TruncatedAudioWarning, stacklevel=3)
