"""Reassembling one file's translated segments into its output track, as they arrive.

Segments may finish in any order (Ray actors); they are written in source order, each as soon
as all before it are, to a hidden partial WAV, so an hour of output never sits in memory.

- ``concat``: the translations back to back with the source's pauses (the silence before the
  first segment, between segments and after the last), so the output is as long as it needs.
- ``dub``: each translation starts at its segment's source start (or right after the previous
  one, if that overran); one that would overrun the next segment's start is time-stretched
  (WSOLA) by down to 0.8x its length, and the track is cut or padded to the input's length.

A segment that failed leaves silence of its source length in both tracks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from audiotok.audio.stretch import time_stretch
from models.s2st.translator import SegmentOutput
from pipelines.translate.segments import Cut, FilePlan

OUTPUTS = ("concat", "dub")
MIN_STRETCH = 0.8  # shortest a dubbed segment is made, as a fraction of its length
_STRETCH_FROM = 0.02  # a smaller overrun is not worth a stretch


@dataclass
class Placed:
    """A segment in the output: source times, output times and texts (the manifest fields)."""

    start: float
    end: float
    source_text: str
    target_text: str
    out_start: float
    out_end: float
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "start": self.start,
            "end": self.end,
            "source_text": self.source_text,
            "target_text": self.target_text,
            "out_start": round(self.out_start, 4),
            "out_end": round(self.out_end, 4),
        }
        if self.error is not None:
            entry["error"] = self.error
        return entry


class TrackWriter:
    """One file's output track (see the module docstring); `add` segments, then `close`."""

    def __init__(self, partial: Path, plan: FilePlan, sample_rate: int, mode: str) -> None:
        if mode not in OUTPUTS:
            raise ValueError(f"output must be one of {', '.join(OUTPUTS)}, not {mode!r}")
        self.plan = plan
        self.rate = sample_rate
        self.mode = mode
        self.placed: list[Placed] = []
        self.languages: list[str] = []
        self._waiting: dict[int, SegmentOutput] = {}
        self._written = 0  # samples written so far
        partial.parent.mkdir(parents=True, exist_ok=True)
        self._sink = sf.SoundFile(
            partial, "w", samplerate=sample_rate, channels=1, subtype="PCM_16", format="WAV"
        )

    @property
    def done(self) -> bool:
        return len(self.placed) == len(self.plan.cuts)

    def add(self, index: int, output: SegmentOutput) -> None:
        """Segment ``index``'s translation; written once every earlier segment is."""
        self._waiting[index] = output
        while len(self.placed) in self._waiting:
            position = len(self.placed)
            self._place(self.plan.cuts[position], self._waiting.pop(position), position)

    def close(self) -> float:
        """Finish the track (trailing pause, or the dub's exact length); its duration in s."""
        if self.mode == "dub":
            total = round(self.plan.duration_s * self.rate)
        else:
            last_end = self.plan.cuts[-1].end if self.plan.cuts else 0.0
            total = self._written + self._samples(max(0.0, self.plan.duration_s - last_end))
        self._silence_to(total)
        self._sink.close()
        return self._written / self.rate

    def abort(self) -> None:
        self._sink.close()

    def _place(self, cut: Cut, output: SegmentOutput, index: int) -> None:
        if output.error is not None:
            audio = np.zeros(self._samples(cut.duration), np.float32)
        else:
            audio = output.audio
            if output.source_language:
                self.languages.append(output.source_language)
        begin = self._begin(cut, index)
        if self.mode == "dub":
            audio = self._fit(audio, begin, index)
        self._silence_to(begin)
        self._write(audio)
        self.placed.append(
            Placed(
                cut.start,
                cut.end,
                output.source_text,
                output.target_text,
                begin / self.rate,
                self._written / self.rate,
                None if output.error is None else output.error.reason,
            )
        )

    def _begin(self, cut: Cut, index: int) -> int:
        """Where the segment starts in the output, in samples."""
        if self.mode == "dub":
            return max(self._written, self._samples(cut.start))
        previous_end = self.plan.cuts[index - 1].end if index else 0.0
        return self._written + self._samples(max(0.0, cut.start - previous_end))

    def _fit(self, audio: np.ndarray, begin: int, index: int) -> np.ndarray:
        """Shortened (down to `MIN_STRETCH`) where it would overrun the next segment's start
        (the end of the input, for the last)."""
        cuts = self.plan.cuts
        limit_s = cuts[index + 1].start if index + 1 < len(cuts) else self.plan.duration_s
        room = self._samples(limit_s) - begin
        if audio.size == 0 or room >= audio.size * (1 - _STRETCH_FROM):
            return audio
        factor = max(MIN_STRETCH, room / audio.size) if room > 0 else MIN_STRETCH
        return time_stretch(audio, factor, self.rate)

    def _samples(self, seconds: float) -> int:
        return round(seconds * self.rate)

    def _silence_to(self, position: int) -> None:
        if position > self._written:
            self._write(np.zeros(position - self._written, np.float32))

    def _write(self, audio: np.ndarray) -> None:
        if self.mode == "dub":  # the dub never runs past the input's length
            audio = audio[: max(0, self._samples(self.plan.duration_s) - self._written)]
        self._sink.write(np.clip(audio, -1.0, 1.0))
        self._written += audio.size
