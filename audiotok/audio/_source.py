"""The contract between the loader and its decoding backends."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import numpy as np

from audiotok.audio.types import AudioInfo


class BackendFailure(Exception):
    """A backend could not open a file.

    ``reason`` is an ``AudioLoadError`` reason when the backend knows it for certain (say, a
    stream with no decoder), else ``None`` and the loader decides from all backends' failures.
    The library's own exception is kept as ``__cause__``.
    """

    def __init__(self, backend: str, message: str, reason: str | None = None) -> None:
        super().__init__(f"{backend}: {message}")
        self.backend = backend
        self.reason = reason


class Source(Protocol):
    """An open file that yields decoded blocks.

    ``cut_short`` is set (to a description) once ``blocks`` has stopped early because the
    data ended or broke before the length the file declared.
    """

    info: AudioInfo
    cut_short: str | None

    def blocks(self, start: int, stop: int | None, block_frames: int) -> Iterator[np.ndarray]:
        """Yield float32 ``[channels, n]`` blocks of source frames ``[start, stop)``.

        Each block holds at most ``block_frames`` frames; integer PCM is scaled to [-1, 1).
        A block may be a view on a buffer the backend reuses, so it is only valid until the
        next block is requested: copy what must be kept.
        """
        ...

    def close(self) -> None: ...
