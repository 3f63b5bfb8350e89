"""Reconstruction metrics as named, pluggable components.

Every metric subclasses `ReconstructionMetric`: it declares the values it produces
(`MetricOutput`: name, label, unit, direction), says whether it can run here
(`availability`: None, or the reason it cannot) and scores one aligned pair. The reference side
of a pair (its F0 track, its speaker embedding, its transcript) is the same for every codec, so
metrics may keep it in ``pair.cache``, which the caller shares between the codecs of one
utterance.

``get_metric("pesq_wb")`` builds one; ``list_metrics()`` names them all. A metric that cannot run
is reported as skipped with its reason; none ever returns a made-up value: a failure on one
input raises `MetricError` naming the metric and the reason.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from audiotok.errors import MetricError, UnknownComponentError
from audiotok.requirements import Requirement

METRIC_RATE = 16_000  # every pair is aligned at this rate (speech metrics; PESQ WB needs it)


@dataclass(frozen=True)
class MetricOutput:
    """One value a metric produces, as reports show it."""

    name: str
    label: str
    higher_is_better: bool
    unit: str = ""
    corpus: bool = False  # computed over the whole corpus (dWER), not averaged per utterance


@dataclass
class MetricPair:
    """An aligned (reference, reconstruction) pair at `METRIC_RATE`, float32 ``[samples]``.

    ``utterance`` keys ``cache``: reference-side values shared by every codec of one utterance.
    ``language`` is the utterance's language code when known (ASR metrics use it).
    """

    reference: np.ndarray
    degraded: np.ndarray
    utterance: str
    language: str | None = None
    cache: dict[Any, Any] = field(default_factory=dict)
    rate: int = METRIC_RATE


class ReconstructionMetric(ABC):
    """Scores a reconstruction against its reference."""

    name: ClassVar[str]
    outputs: ClassVar[tuple[MetricOutput, ...]]

    def availability(self) -> str | None:
        """None when the metric can run here, else the reason it cannot (may load a model)."""
        return None

    def known_skip(self) -> str | None:
        """The reason this metric will skip every pair, when it is known without loading a
        model (a metric with nothing to load it with); None otherwise."""
        return None

    def requirements(self) -> list[Requirement]:
        """Packages and model files the metric needs, checked without loading anything (see
        `audiotok.requirements`); a job refuses to start while one is missing."""
        return []

    @abstractmethod
    def __call__(self, pair: MetricPair) -> dict[str, Any]:
        """``{output name: value}``; corpus metrics return what the corpus step needs.

        Raises:
            MetricError: the metric cannot score this pair (too short, silent, ...).
        """


_REGISTRY: dict[str, Callable[..., ReconstructionMetric]] = {}


def register_metric(name: str) -> Callable[[type[ReconstructionMetric]], Any]:
    """Class decorator ``@register_metric("pesq_wb")``; built as ``cls(**options)``."""

    def decorate(cls: type[ReconstructionMetric]) -> type[ReconstructionMetric]:
        if name in _REGISTRY:
            raise ValueError(f"metric {name!r} is registered twice")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return decorate


def list_metrics() -> list[str]:
    _ensure_builtin()
    return sorted(_REGISTRY)


def get_metric(name: str, **options: Any) -> ReconstructionMetric:
    """Build the metric ``name`` (see `list_metrics`) with its options.

    Raises:
        UnknownComponentError: no metric of that name (the message lists the known ones).
    """
    _ensure_builtin()
    if name not in _REGISTRY:
        raise UnknownComponentError("metric", name, _REGISTRY)
    return _REGISTRY[name](**options)


def metric_outputs(name: str) -> tuple[MetricOutput, ...]:
    _ensure_builtin()
    if name not in _REGISTRY:
        raise UnknownComponentError("metric", name, _REGISTRY)
    cls = _REGISTRY[name]
    return cls.outputs  # type: ignore[attr-defined]


def _ensure_builtin() -> None:
    from audiotok.metrics import builtin  # noqa: F401  (registers the built-in metrics)


def check_finite(name: str, value: float) -> float:
    if not np.isfinite(value):
        raise MetricError(name, f"non-finite value {value}")
    return float(value)
