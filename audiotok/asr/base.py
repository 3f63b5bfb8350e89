"""Speech recognition: the `ASRBackend` extension point, `Transcript` and the registry."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np

from audiotok._components import ComponentRegistry


@dataclass(frozen=True)
class Transcript:
    """What a backend heard in one waveform.

    Attributes:
        text: the transcript, stripped; empty when nothing was recognised.
        language: the language code used or detected (``"en"``), None if the backend has none.
        avg_logprob: mean log-probability per decoded token (a confidence; closer to 0 is
            more confident), None when nothing was decoded or the backend does not say.
    """

    text: str
    language: str | None
    avg_logprob: float | None


class ASRBackend(ABC):
    """Transcribes a batch of waveforms.

    Backends resample internally, so any input rate works.
    """

    @abstractmethod
    def transcribe(
        self, waves: list[np.ndarray], sample_rate: int, language: str | None = None
    ) -> list[Transcript]:
        """One `Transcript` per waveform.

        Args:
            waves: float32 mono waveforms ``[N_i]``, all at ``sample_rate``.
            sample_rate: their rate in Hz.
            language: a language code to force (``"en"``); None lets the backend detect it.
        """


ASR_REGISTRY: ComponentRegistry[ASRBackend] = ComponentRegistry("ASR backend")


def get_asr(name: str = "faster-whisper", **options: Any) -> ASRBackend:
    """Build a registered ASR backend: ``get_asr("faster-whisper", model="tiny.en")``.

    Raises:
        UnknownComponentError: no backend of that name (the message lists the known ones).
        ComponentOptionError: an option its config does not have.
        BackendUnavailableError: its package is not installed.
        WeightsNotFoundError: its model cannot be found or fetched.
    """
    from audiotok.asr import faster_whisper_backend  # noqa: F401  (registers built-ins)

    return ASR_REGISTRY.create(name, **options)
