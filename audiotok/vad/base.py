"""Voice activity detection: the extension point, its registry and the segment logic.

A detector turns a mono waveform into `SpeechSegment`s in seconds.  Frame-probability
detectors (Silero and the like) share `segments_from_probabilities`, a hysteresis with a
minimum speech length, a minimum silence length and padding.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from audiotok._components import ComponentRegistry
from audiotok.requirements import Requirement

_EPS = 1e-9  # times are multiples of the frame hop; compare them with this tolerance


@dataclass(frozen=True)
class SpeechSegment:
    """One stretch of speech, ``start`` and ``end`` in seconds from the start of the input."""

    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


class VoiceActivityDetector(ABC):
    """Finds speech in a waveform.

    Subclasses implement `speech_segments`; they resample internally, so any rate works.
    """

    @abstractmethod
    def speech_segments(self, wave: np.ndarray, sample_rate: int) -> list[SpeechSegment]:
        """Speech regions of ``wave``.

        Args:
            wave: float32 mono audio ``[N]``.
            sample_rate: its rate in Hz.

        Returns:
            Non-overlapping segments in increasing time order, within ``[0, N / sample_rate]``.
        """


VAD_REGISTRY: ComponentRegistry[VoiceActivityDetector] = ComponentRegistry(
    "voice activity detector"
)


def get_vad(name: str = "silero", **options: Any) -> VoiceActivityDetector:
    """Build a registered detector: ``get_vad("silero", threshold=0.6)``.

    Raises:
        UnknownComponentError: no detector of that name (the message lists the known ones).
        ComponentOptionError: an option its config does not have.
        BackendUnavailableError: its package or model file is not installed.
    """
    from audiotok.vad import silero  # noqa: F401  (registers the built-in detectors)

    return VAD_REGISTRY.create(name, **options)


def segments_from_probabilities(
    probabilities: Sequence[float] | np.ndarray,
    frame_s: float,
    duration_s: float,
    *,
    threshold: float,
    neg_threshold: float,
    min_speech_s: float,
    min_silence_s: float,
    speech_pad_s: float,
) -> list[SpeechSegment]:
    """Speech segments from per-frame speech probabilities.

    Speech starts at the first frame with probability ``>= threshold`` and ends where the
    probability has stayed below ``neg_threshold`` for at least ``min_silence_s`` (the end is
    the first such frame).  Segments shorter than ``min_speech_s`` are dropped; the rest are
    widened by ``speech_pad_s`` on each side, but two neighbours closer than twice the pad
    meet in the middle of their gap rather than overlapping.

    Args:
        probabilities: ``[F]`` speech probability of frame ``i``, which starts at
            ``i * frame_s`` seconds.
        frame_s: frame hop in seconds.
        duration_s: length of the input; segments are clipped to it.
    """
    raw: list[list[float]] = []
    start: float | None = None
    silence_from: float | None = None
    for i, p in enumerate(np.asarray(probabilities, dtype=np.float64).tolist()):
        t = i * frame_s
        if start is None:
            if p >= threshold:
                start, silence_from = t, None
            continue
        if p >= threshold:
            silence_from = None
        elif p < neg_threshold:
            silence_from = t if silence_from is None else silence_from
            if t - silence_from >= min_silence_s - _EPS:
                raw.append([start, silence_from])
                start = silence_from = None
    if start is not None:
        raw.append([start, duration_s])
    kept = [seg for seg in raw if seg[1] - seg[0] > min_speech_s + _EPS]
    for i, seg in enumerate(kept):
        if i == 0:
            seg[0] = max(0.0, seg[0] - speech_pad_s)
        if i + 1 < len(kept):
            gap = kept[i + 1][0] - seg[1]
            pad = gap / 2 if gap < 2 * speech_pad_s else speech_pad_s
            seg[1] += pad
            kept[i + 1][0] -= pad
        else:
            seg[1] = min(duration_s, seg[1] + speech_pad_s)
    return [SpeechSegment(round(s, 4), round(min(e, duration_s), 4)) for s, e in kept]


def vad_requirements(name: str = "silero", **options: Any) -> list[Requirement]:
    """What building ``get_vad(name, **options)`` needs, checked without building it.

    Raises:
        UnknownComponentError, ComponentOptionError: as the builder.
    """
    from audiotok.vad import silero  # noqa: F401  (registers the built-ins)

    return VAD_REGISTRY.requirements(name, **options)
