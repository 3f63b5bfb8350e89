"""The FFmpeg backend (via PyAV): whatever libsndfile cannot read (MP4/M4A, ADTS AAC, ...).

Frames are decoded one at a time and handed on in blocks, so memory stays bounded however long
the file is.  Offsets are found by seeking and then trimming by timestamp; for codecs with
inexact seeking (MP3) this is accurate to the timestamps FFmpeg reports.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from fractions import Fraction

import av
import numpy as np

from audiotok.audio._source import BackendFailure
from audiotok.audio.types import AudioInfo

BACKEND = "pyav"
_FORMATS = {"mov,mp4,m4a,3gp,3g2,mj2": "mp4", "matroska,webm": "matroska"}
# Integer sample formats and the divisor that maps them to [-1, 1); the same convention as
# libsndfile, so both backends give the same floats for the same PCM.
_INT_SCALES = {"s16": 2.0**15, "s32": 2.0**31, "s64": 2.0**63}
_PREROLL_SECONDS = Fraction(1, 2)


def open_source(path: str) -> PyAVSource:
    """Open ``path`` with FFmpeg; raises ``BackendFailure`` if it has no decodable audio."""
    try:
        container = av.open(path, metadata_errors="ignore")
    except MemoryError:
        raise
    except Exception as exc:  # FFmpeg errors come in many classes; all mean "cannot open"
        raise BackendFailure(BACKEND, str(exc)) from exc
    try:
        return PyAVSource(path, container)
    except BaseException:
        container.close()
        raise


def _first_audio_stream(container: av.container.InputContainer) -> av.audio.AudioStream:
    if not container.streams.audio:
        raise BackendFailure(BACKEND, "no audio stream in container", reason="not_audio")
    stream = container.streams.audio[0]
    if stream.codec_context is None:
        # FFmpeg parsed the container but has no decoder for the stream's codec.
        tag = getattr(stream, "codec_tag", "") or "unknown"
        raise BackendFailure(BACKEND, f"no decoder for codec {tag!r}", reason="unsupported_codec")
    return stream


def _codec_name(name: str) -> str:
    # "pcm_s16le" -> "pcm_s16", to match the soundfile backend's names.
    if name.startswith("pcm_") and name[-2:] in ("le", "be"):
        return name[:-2]
    return name


class PyAVSource:
    """A file open in FFmpeg; see ``audiotok.audio._source.Source``."""

    def __init__(self, path: str, container: av.container.InputContainer) -> None:
        self._container = container
        self._stream = _first_audio_stream(container)
        codec = self._stream.codec_context
        rate = int(codec.sample_rate or self._stream.rate or 0)
        if rate <= 0:
            raise BackendFailure(BACKEND, "sample rate is 0", reason="zero_sample_rate")
        self.cut_short: str | None = None
        self._time_base = self._stream.time_base or Fraction(1, rate)
        self._start_pts = self._stream.start_time or 0
        duration = self._duration_seconds()
        self.info = AudioInfo(
            path=path,
            sample_rate=rate,
            channels=int(codec.channels),
            num_frames=None if duration is None else round(duration * rate),
            duration=duration,
            format=_FORMATS.get(container.format.name, container.format.name.split(",")[0]),
            codec=_codec_name(codec.name),
            backend=BACKEND,
        )

    def _duration_seconds(self) -> float | None:
        # The stream's own duration is best; the container's is an estimate for some formats.
        if self._stream.duration:
            return float(self._stream.duration * self._time_base)
        if self._container.duration:
            return self._container.duration / av.time_base
        return None

    def blocks(self, start: int, stop: int | None, block_frames: int) -> Iterator[np.ndarray]:
        """Yield float32 ``[channels, n]`` blocks of frames ``[start, stop)``.

        Decoded frames are copied into a block buffer of ``block_frames`` so that a block costs
        one allocation, not a list of frames plus their concatenation.
        """
        channels = self.info.channels
        buffer = np.empty((channels, block_frames), dtype=np.float32)
        filled = 0
        for samples in self._frames_from(start, stop):
            while samples.shape[1]:
                take = min(block_frames - filled, samples.shape[1])
                buffer[:, filled : filled + take] = samples[:, :take]
                samples = samples[:, take:]
                filled += take
                if filled == block_frames:
                    yield buffer
                    del buffer  # free the consumed block before allocating the next one
                    buffer = np.empty((channels, block_frames), dtype=np.float32)
                    filled = 0
        if filled:
            yield buffer[:, :filled]

    def _frames_from(self, start: int, stop: int | None) -> Iterator[np.ndarray]:
        """Decoded frames trimmed to the source frame range ``[start, stop)``."""
        frames = self._decode()
        position, first = self._seek_to(start, frames)
        if first is not None and position > start:
            # The seek landed past the target: rewind and count from the top instead.
            self._rewind()
            frames, position, first = self._decode(), 0, None
        pending = [first] if first is not None else []
        for frame in itertools.chain(pending, frames):
            samples = self._to_float(frame)
            begin = max(start - position, 0)
            end = samples.shape[1] if stop is None else min(samples.shape[1], stop - position)
            position += samples.shape[1]
            if end > begin:
                yield samples[:, begin:end]
            if stop is not None and position >= stop:
                return

    def _seek_to(
        self, start: int, frames: Iterator[av.AudioFrame]
    ) -> tuple[int, av.AudioFrame | None]:
        """Seek to shortly before source frame ``start``.

        Returns the position of the next frame and that frame (already taken from ``frames``),
        or ``(0, None)`` when decoding simply starts at the top.  Seeks back an extra
        ``_PREROLL_SECONDS`` because some demuxers (MP3 without an index, ADTS) only estimate
        where a time lies.
        """
        if start <= 0:
            return 0, None
        seconds = max(Fraction(start, self.info.sample_rate) - _PREROLL_SECONDS, Fraction(0))
        try:
            target = int(seconds / self._time_base) + self._start_pts
            self._container.seek(target, stream=self._stream, backward=True)
        except Exception:
            return 0, None  # unseekable: decode from the top and count samples
        first = next(frames, None)
        if first is None or first.pts is None:
            self._rewind()
            return 0, None
        seconds = (first.pts - self._start_pts) * self._time_base
        return round(seconds * self.info.sample_rate), first

    def _rewind(self) -> None:
        self.cut_short = None
        try:
            self._container.seek(0)
        except Exception as exc:
            raise BackendFailure(BACKEND, f"cannot rewind after seeking: {exc}") from exc

    def _decode(self) -> Iterator[av.AudioFrame]:
        """Decode frame by frame; a decoding error ends the stream and marks it cut short."""
        frames = self._container.decode(self._stream)
        while True:
            try:
                frame = next(frames)
            except StopIteration:
                return
            except MemoryError:
                raise
            except Exception as exc:
                self.cut_short = f"decoding stopped: {exc}"
                return
            yield frame

    def _to_float(self, frame: av.AudioFrame) -> np.ndarray:
        """One frame as float32 ``[channels, n]``."""
        channels = frame.layout.nb_channels
        if channels != self.info.channels:
            message = f"channel count changed mid-stream ({self.info.channels} -> {channels})"
            raise BackendFailure(BACKEND, message, reason="decode_failed")
        data = frame.to_ndarray()
        if not frame.format.is_planar:
            # Packed formats come as [1, n * channels], interleaved.
            data = data.reshape(-1, channels).T
        kind = frame.format.name.rstrip("p")
        samples = np.ascontiguousarray(data, dtype=np.float32)
        # Scaling by powers of two is exact in float32, so no wider temporary is needed.
        if kind == "u8":
            samples -= 128.0
            samples /= 128.0
        elif kind in _INT_SCALES:
            samples /= _INT_SCALES[kind]
        return samples

    def close(self) -> None:
        self._container.close()
