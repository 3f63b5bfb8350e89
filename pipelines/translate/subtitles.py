"""Subtitle files: SubRip (``.srt``) and WebVTT (``.vtt``) from timed cues."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Cue:
    """One subtitle: ``start`` and ``end`` in seconds, the text (may hold line breaks)."""

    start: float
    end: float
    text: str


def _clock(seconds: float, separator: str) -> str:
    millis = round(max(0.0, seconds) * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def _shown(cues: Sequence[Cue]) -> list[Cue]:
    # an empty cue is invalid in both formats; a zero-length one is invisible
    return [c for c in cues if c.text.strip() and c.end > c.start]


def to_srt(cues: Sequence[Cue]) -> str:
    """SubRip text: numbered blocks ``1\\n00:00:01,000 --> 00:00:02,500\\ntext\\n``."""
    blocks = [
        f"{i}\n{_clock(c.start, ',')} --> {_clock(c.end, ',')}\n{c.text.strip()}\n"
        for i, c in enumerate(_shown(cues), start=1)
    ]
    return "\n".join(blocks)


def to_vtt(cues: Sequence[Cue]) -> str:
    """WebVTT text: the ``WEBVTT`` header, then ``00:00:01.000 --> 00:00:02.500`` cues."""
    blocks = [
        f"{_clock(c.start, '.')} --> {_clock(c.end, '.')}\n{c.text.strip()}\n" for c in _shown(cues)
    ]
    return "WEBVTT\n\n" + "\n".join(blocks)
