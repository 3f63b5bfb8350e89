"""Block-wise downmix and resampling, and a growable output buffer.

Long files are decoded in blocks; each block is downmixed and resampled as it arrives, so only
one source-rate block is alive at a time.  The resampler keeps its filter state between blocks
(``soxr.ResampleStream``), so the joined output equals a one-shot resample of the whole signal.
"""

from __future__ import annotations

import numpy as np
import soxr

# The same preset as audiotok.audio.resample.resample, so streamed and one-shot results agree.
_QUALITY = "VHQ"


class BlockConverter:
    """Turn ``[channels, n]`` source blocks into ``[out_channels, m]`` blocks at ``out_rate``."""

    def __init__(self, in_rate: int, out_rate: int, channels: int, mono: bool) -> None:
        self.in_rate = in_rate
        self.out_rate = out_rate
        self.out_channels = 1 if mono else channels
        self._mono = mono and channels > 1
        self._resampler = (
            soxr.ResampleStream(in_rate, out_rate, self.out_channels, "float32", _QUALITY)
            if in_rate != out_rate
            else None
        )

    def push(self, block: np.ndarray) -> np.ndarray:
        """Convert one float32 ``[channels, n]`` block; may return fewer frames (filter delay).

        ``block`` may be a view on a reused buffer; the result is always a new array.
        """
        if self._mono:
            block = block.mean(axis=0, dtype=np.float32, keepdims=True)
        elif self._resampler is None:
            return np.array(block, dtype=np.float32, order="C")
        return self._resample(block, last=False)

    def flush(self) -> np.ndarray:
        """The frames still held in the resampler's filter; call once, after the last block."""
        empty = np.zeros((self.out_channels, 0), dtype=np.float32)
        return self._resample(empty, last=True) if self._resampler is not None else empty

    def expected_frames(self, in_frames: int) -> int:
        """How many frames ``in_frames`` source frames become (what soxr produces)."""
        return round(in_frames * self.out_rate / self.in_rate)

    def _resample(self, block: np.ndarray, last: bool) -> np.ndarray:
        if self._resampler is None:
            return block
        if self.out_channels == 1:
            out = self._resampler.resample_chunk(block[0], last=last)
            return out.reshape(1, -1)
        # soxr wants interleaved [n, channels]; for libsndfile's blocks that is a free view.
        out = self._resampler.resample_chunk(np.ascontiguousarray(block.T), last=last)
        return np.ascontiguousarray(out.T)


class Accumulator:
    """Collect ``[channels, m]`` blocks into one array without holding a list of copies.

    With a good ``capacity`` (the expected length) the output is written in place and never
    copied; otherwise it grows geometrically.
    """

    def __init__(self, channels: int, capacity: int | None) -> None:
        self._buffer = np.empty((channels, max(capacity or 0, 0)), dtype=np.float32)
        self._size = 0

    def append(self, block: np.ndarray) -> None:
        end = self._size + block.shape[1]
        if end > self._buffer.shape[1]:
            grown = max(end, self._buffer.shape[1] * 3 // 2 + 4096)
            buffer = np.empty((self._buffer.shape[0], grown), dtype=np.float32)
            buffer[:, : self._size] = self._buffer[:, : self._size]
            self._buffer = buffer
        self._buffer[:, self._size : end] = block
        self._size = end

    def result(self) -> np.ndarray:
        """The collected ``[channels, frames]`` float32 array (C-contiguous)."""
        capacity = self._buffer.shape[1]
        if self._size == capacity:
            return self._buffer
        if self._buffer.shape[0] == 1 and capacity - self._size <= capacity // 100 + 64:
            # A slice of a one-row array is still contiguous; keeping a little slack is
            # cheaper than a copy of the whole output.
            return self._buffer[:, : self._size]
        return self._buffer[:, : self._size].copy()
