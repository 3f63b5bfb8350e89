"""Cutting a recording into segments a translator can take: at pauses, at most ``max_s`` long.

The file is read once in blocks (16 kHz mono, ``chunk_s`` at a time) to score every 32 ms window
with Silero; only the probabilities stay in memory (about 450 KB for an hour). Speech regions
closer than ``merge_gap_s`` are joined while the result stays within ``max_s`` (translation
wants whole sentences, not fragments); a region still longer than ``max_s`` is cut at its
quietest window in the second half of the allowed span when that window is a pause (below
the VAD's silence threshold), and only where none is, cut hard at ``max_s`` with the next
segment starting ``overlap_s`` earlier so no word is lost at the seam. Each segment's audio is
read back from the file when it is translated (`read_cut`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audiotok.audio import iter_audio_chunks, load_audio
from audiotok.vad.base import SpeechSegment
from audiotok.vad.silero import SAMPLE_RATE, WINDOW, SileroVAD

FRAME_S = WINDOW / SAMPLE_RATE


@dataclass(frozen=True)
class PlanConfig:
    """How recordings are cut.

    Attributes:
        max_s: longest segment (``--max-segment-s``).
        merge_gap_s: neighbouring speech closer than this is one segment (if it fits).
        overlap_s: at a hard cut, how much of the end the next segment repeats.
        chunk_s: seconds read at a time while scoring.
    """

    max_s: float = 20.0
    merge_gap_s: float = 0.5
    overlap_s: float = 0.5
    chunk_s: float = 30.0

    def __post_init__(self) -> None:
        if self.max_s < 2.0:
            raise ValueError(f"max segment length must be at least 2 s, got {self.max_s}")
        if not 0 <= self.overlap_s < self.max_s / 2:
            raise ValueError(f"overlap {self.overlap_s} s must be below half of {self.max_s} s")


@dataclass(frozen=True)
class Cut:
    """One segment, in seconds of the source; ``hard``: its start is a hard cut's overlap."""

    start: float
    end: float
    hard: bool = False

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class FilePlan:
    """A recording's length and its segments (empty: no speech)."""

    duration_s: float
    cuts: list[Cut]


def speech_probabilities(
    path: str | Path, vad: SileroVAD, chunk_s: float
) -> tuple[np.ndarray, float]:
    """Silero probabilities ``[windows]`` of the whole file read in blocks, and its duration."""
    stream = vad.stream()
    pieces, samples = [], 0
    for block in iter_audio_chunks(path, sample_rate=SAMPLE_RATE, mono=True, chunk_seconds=chunk_s):
        samples += block.shape[-1]
        pieces.append(stream.feed(block[0]))
    pieces.append(stream.finish())
    return np.concatenate(pieces), samples / SAMPLE_RATE


def plan_file(path: str | Path, vad: SileroVAD, config: PlanConfig) -> FilePlan:
    """The segments of ``path`` (see the module docstring).

    Raises:
        AudioLoadError: the file cannot be decoded.
    """
    probabilities, duration = speech_probabilities(path, vad, config.chunk_s)
    regions = vad.segments_from(probabilities, duration)
    cuts: list[Cut] = []
    for region in merge_close(regions, config):
        cuts += split_long(region, probabilities, vad.neg_threshold, config)
    return FilePlan(duration, cuts)


def merge_close(regions: list[SpeechSegment], config: PlanConfig) -> list[SpeechSegment]:
    """Neighbours separated by at most ``merge_gap_s`` joined, while within ``max_s``."""
    merged: list[SpeechSegment] = []
    for region in regions:
        last = merged[-1] if merged else None
        if (
            last is not None
            and region.start - last.end <= config.merge_gap_s
            and region.end - last.start <= config.max_s
        ):
            merged[-1] = SpeechSegment(last.start, region.end)
        else:
            merged.append(region)
    return merged


def split_long(
    region: SpeechSegment, probabilities: np.ndarray, pause_below: float, config: PlanConfig
) -> list[Cut]:
    """``region`` in pieces of at most ``max_s``: at pauses where there are any, else hard."""
    cuts: list[Cut] = []
    start, end, hard = region.start, region.end, False
    while end - start > config.max_s:
        pause = _quietest(probabilities, start + config.max_s / 2, start + config.max_s)
        if pause is not None and probabilities[pause] < pause_below:
            at = (pause + 0.5) * FRAME_S
            cuts.append(Cut(round(start, 4), round(at, 4), hard))
            start, hard = at, False
        else:
            at = start + config.max_s
            cuts.append(Cut(round(start, 4), round(at, 4), hard))
            start, hard = at - config.overlap_s, True
    cuts.append(Cut(round(start, 4), round(end, 4), hard))
    return cuts


def _quietest(probabilities: np.ndarray, low_s: float, high_s: float) -> int | None:
    low = int(np.ceil(low_s / FRAME_S))
    high = min(int(high_s / FRAME_S), probabilities.size)  # window ``high`` would overrun
    if high <= low:
        return None
    return low + int(np.argmin(probabilities[low:high]))


def read_cut(path: str | Path, cut: Cut) -> np.ndarray:
    """The segment's audio: float32 16 kHz mono ``[samples]``."""
    audio = load_audio(
        path, sample_rate=SAMPLE_RATE, mono=True, offset=cut.start, duration=cut.duration
    )
    return np.ascontiguousarray(audio.samples[0], dtype=np.float32)
