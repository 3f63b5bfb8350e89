"""Speaker embeddings: the `SpeakerEncoder` extension point and its registry.

An encoder maps each waveform to one L2-normalised vector, so the dot product of two
embeddings is their cosine similarity.  The built-in backend is Resemblyzer's d-vector
encoder (`ResemblyzerEncoder`); stronger verification models (WavLM-SV, ECAPA-TDNN,
CAM++) fit the same interface: subclass `SpeakerEncoder`, implement `sample_rate`, `dim`
and `_embed`, give the config a ``weights`` path, and register with
``@SPEAKER_REGISTRY.register(name, ConfigClass)``.  They are not built in because their
weights are not shipped with any installed package.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from audiotok._components import ComponentRegistry
from audiotok._waves import mono_at_rate
from audiotok.requirements import Requirement


class SpeakerEncoder(ABC):
    """Waveforms -> L2-normalised speaker embeddings ``[B, dim]``.

    The base class checks and resamples the inputs to `sample_rate` and normalises the
    output; subclasses implement `_embed` on mono audio at their own rate.
    """

    @property
    @abstractmethod
    def sample_rate(self) -> int:
        """The rate the model runs at, in Hz."""

    @property
    @abstractmethod
    def dim(self) -> int:
        """Embedding size ``D``."""

    @abstractmethod
    def _embed(self, waves: list[np.ndarray]) -> np.ndarray:
        """``B`` float32 waveforms ``[N_i]`` at `sample_rate` -> ``[B, D]`` (any norm)."""

    def embed(self, waves: list[np.ndarray], sample_rate: int) -> np.ndarray:
        """Speaker embeddings of a batch.

        Args:
            waves: float32 mono waveforms ``[N_i]`` at ``sample_rate``.
            sample_rate: their rate in Hz (resampled to `sample_rate` as needed).

        Returns:
            float32 ``[B, D]``, each row of unit L2 norm.

        Raises:
            ValueError: an empty, multi-channel or non-finite waveform.
        """
        name = type(self).__name__
        audio = [mono_at_rate(w, sample_rate, self.sample_rate, name) for w in waves]
        if any(a.size == 0 for a in audio):
            raise ValueError(f"{name}: cannot embed an empty waveform")
        if not audio:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = np.asarray(self._embed(audio), dtype=np.float32)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)


SPEAKER_REGISTRY: ComponentRegistry[SpeakerEncoder] = ComponentRegistry("speaker encoder")


def get_speaker_encoder(name: str = "resemblyzer", **options: Any) -> SpeakerEncoder:
    """Build a registered speaker encoder: ``get_speaker_encoder("resemblyzer")``.

    Raises:
        UnknownComponentError: no encoder of that name (the message lists the known ones).
        ComponentOptionError: an option its config does not have.
        BackendUnavailableError / WeightsNotFoundError: its weights are not available.
    """
    from audiotok.speaker import resemblyzer_encoder  # noqa: F401  (registers built-ins)

    return SPEAKER_REGISTRY.create(name, **options)


def speaker_requirements(name: str = "resemblyzer", **options: Any) -> list[Requirement]:
    """What building ``get_speaker_encoder(name, **options)`` needs, checked without building it.

    Raises:
        UnknownComponentError, ComponentOptionError: as the builder.
    """
    from audiotok.speaker import resemblyzer_encoder  # noqa: F401  (registers the built-ins)

    return SPEAKER_REGISTRY.requirements(name, **options)
