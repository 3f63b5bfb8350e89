"""Value types of the audio layer: decoded audio, probe results, and the truncation warning."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class TruncatedAudioWarning(UserWarning):
    """A file ended before the data its header promised; the samples present were returned.

    Interrupted recordings and partial downloads look like this.  The audio is usable, but a
    batch job may want to record the file, so this is a warning rather than silence.
    """


@dataclass(frozen=True)
class AudioInfo:
    """What a cheap probe learns about a file without decoding it.

    ``num_frames`` and ``duration`` are ``None`` when the container does not say; for lossy
    streams whose length the container only estimates (ADTS AAC, some MP3) they are approximate.
    ``format`` is the container (``wav``, ``flac``, ``ogg``, ``mp3``, ``mp4``, ...), ``codec``
    the stream codec (``pcm_s16``, ``pcm_f32``, ``flac``, ``vorbis``, ``opus``, ``mp3``,
    ``aac``, ...), ``backend`` the library that read it (``soundfile`` or ``pyav``).
    """

    path: str
    sample_rate: int
    channels: int
    num_frames: int | None
    duration: float | None
    format: str
    codec: str
    backend: str


@dataclass(frozen=True, eq=False)
class Audio:
    """Decoded audio: float32 ``samples`` of shape ``[channels, num_frames]`` (always 2-D).

    ``eq=False`` because element-wise array comparison has no single truth value; compare
    ``samples`` with numpy instead.
    """

    samples: np.ndarray
    sample_rate: int
    path: str | None = None

    def __post_init__(self) -> None:
        if self.samples.ndim != 2:
            raise ValueError(f"Audio.samples must be [channels, frames], got {self.samples.shape}")
        if self.sample_rate <= 0:
            raise ValueError(f"Audio.sample_rate must be positive, got {self.sample_rate}")

    @property
    def channels(self) -> int:
        return int(self.samples.shape[0])

    @property
    def num_frames(self) -> int:
        return int(self.samples.shape[1])

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.num_frames / self.sample_rate

    @property
    def mono(self) -> np.ndarray:
        """``[num_frames]`` float32: the mean of the channels."""
        if self.channels == 1:
            return self.samples[0]
        return self.samples.mean(axis=0, dtype=np.float32)
