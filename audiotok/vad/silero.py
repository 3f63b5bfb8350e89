"""Silero VAD (v5/v6 ONNX model shipped by the ``silero-vad`` package), run with onnxruntime.

The model is loaded from the installed package's data folder without importing
``silero_vad`` (importing it sets torch to a single thread).  It scores 512-sample windows
(32 ms) of 16 kHz audio, each preceded by the last 64 samples of the previous window, and
carries a recurrent state ``[2, 1, 128]`` from window to window.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from audiotok._components import onnx_session, package_file
from audiotok._waves import mono_at_rate
from audiotok.errors import WeightsNotFoundError
from audiotok.requirements import ONNXRUNTIME, LocalFile, PackageData, Requirement
from audiotok.vad.base import (
    VAD_REGISTRY,
    SpeechSegment,
    VoiceActivityDetector,
    segments_from_probabilities,
)

SAMPLE_RATE = 16000
WINDOW = 512  # samples per scored window at 16 kHz
CONTEXT = 64  # samples of the previous window the model sees before each window
WHAT = "silero VAD"
PACKAGED_MODEL = ("silero_vad", "data/silero_vad.onnx")


@dataclass(frozen=True)
class SileroVADConfig:
    """Silero VAD settings (the defaults are the package's own).

    Attributes:
        threshold: a window with speech probability ``>=`` this starts (or continues) speech.
        neg_threshold: below this, a window counts as silence; None means ``threshold - 0.15``.
        min_speech_s: shorter segments are dropped.
        min_silence_s: silence needed to end a segment.
        speech_pad_s: padding added to both sides of each segment.
        model_path: an ONNX file to use instead of the packaged ``silero_vad.onnx``.
        num_threads: onnxruntime intra-op threads (the model is tiny; 1 is plenty).
    """

    threshold: float = 0.5
    neg_threshold: float | None = None
    min_speech_s: float = 0.25
    min_silence_s: float = 0.1
    speech_pad_s: float = 0.03
    model_path: str | None = None
    num_threads: int = 1


@VAD_REGISTRY.register("silero", SileroVADConfig)
class SileroVAD(VoiceActivityDetector):
    """Silero voice activity detector; any input rate (resampled to 16 kHz internally).

    Raises `BackendUnavailableError` at construction when onnxruntime or the ``silero-vad``
    package is missing.
    """

    def __init__(self, config: SileroVADConfig | None = None) -> None:
        self.config = config or SileroVADConfig()
        if self.config.model_path is not None:
            path = self.config.model_path
            if not Path(path).expanduser().is_file():
                raise WeightsNotFoundError(f"{WHAT}: no ONNX model file {path}")
            path = str(Path(path).expanduser())
        else:
            path = str(package_file(*PACKAGED_MODEL, what=WHAT, package="silero-vad"))
        self._session = onnx_session(path, what=WHAT, num_threads=self.config.num_threads)

    @classmethod
    def requirements(cls, config: SileroVADConfig) -> list[Requirement]:
        model: Requirement = (
            LocalFile(config.model_path, "the Silero ONNX model file")
            if config.model_path is not None
            else PackageData(*PACKAGED_MODEL, distribution="silero-vad")
        )
        return [ONNXRUNTIME, model]

    def speech_probabilities(self, wave: np.ndarray, sample_rate: int) -> np.ndarray:
        """Speech probability per 32 ms window: ``[N] -> [ceil(N16 / 512)]`` float32.

        ``N16`` is the length at 16 kHz; the last window is zero-padded.
        """
        audio = mono_at_rate(wave, sample_rate, SAMPLE_RATE, "silero VAD")
        stream = self.stream()
        return np.concatenate([stream.feed(audio), stream.finish()])

    def stream(self) -> SileroStream:
        """A stateful scorer for audio that arrives in blocks (an hour-long file read piece
        by piece): the same probabilities as `speech_probabilities` on the whole."""
        return SileroStream(self._session)

    @property
    def neg_threshold(self) -> float:
        cfg = self.config
        return (
            cfg.neg_threshold if cfg.neg_threshold is not None else max(cfg.threshold - 0.15, 0.01)
        )

    def segments_from(self, probabilities: np.ndarray, duration_s: float) -> list[SpeechSegment]:
        """`speech_segments` from probabilities already computed (`stream`)."""
        cfg = self.config
        return segments_from_probabilities(
            probabilities,
            WINDOW / SAMPLE_RATE,
            duration_s,
            threshold=cfg.threshold,
            neg_threshold=self.neg_threshold,
            min_speech_s=cfg.min_speech_s,
            min_silence_s=cfg.min_silence_s,
            speech_pad_s=cfg.speech_pad_s,
        )

    def speech_segments(self, wave: np.ndarray, sample_rate: int) -> list[SpeechSegment]:
        """See `VoiceActivityDetector.speech_segments`."""
        probs = self.speech_probabilities(wave, sample_rate)
        return self.segments_from(probs, np.asarray(wave).shape[-1] / sample_rate)


class SileroStream:
    """Silero's recurrent state and the samples not yet scored, between blocks of 16 kHz audio.

    `feed` scores every complete 512-sample window it can; `finish` scores the zero-padded
    remainder. Each window sees the 64 samples before it, as in one pass over the whole input.
    """

    def __init__(self, session: Any) -> None:
        self._session = session
        self._state = np.zeros((2, 1, 128), dtype=np.float32)
        self._rate = np.array(SAMPLE_RATE, dtype=np.int64)
        self._pending = np.zeros(CONTEXT, dtype=np.float32)  # context + unscored samples

    def feed(self, audio_16k: np.ndarray) -> np.ndarray:
        """Probabilities ``[windows completed by this block]`` of float32 16 kHz ``[N]``."""
        self._pending = np.concatenate([self._pending, np.asarray(audio_16k, np.float32)])
        frames = (self._pending.size - CONTEXT) // WINDOW
        out = np.empty(frames, dtype=np.float32)
        for i in range(frames):
            chunk = self._pending[None, i * WINDOW : i * WINDOW + CONTEXT + WINDOW]
            prob, self._state = self._session.run(
                None, {"input": chunk, "state": self._state, "sr": self._rate}
            )
            out[i] = float(prob[0, 0])
        self._pending = self._pending[frames * WINDOW :]
        return out

    def finish(self) -> np.ndarray:
        """The last, zero-padded window (empty when the input ended on a window boundary)."""
        left = self._pending.size - CONTEXT
        if left <= 0:
            return np.zeros(0, dtype=np.float32)
        return self.feed(np.zeros(WINDOW - left, dtype=np.float32))
