"""Where batches of segments are translated: in this process, or on Ray actors.

Both runners take ``(tag, segments)`` pairs and yield ``(tag, outputs)``; the tag stays with
the caller (it routes outputs to their files), only the segments travel. The in-process runner
answers in order; the Ray runner keeps at most two batches per actor in flight (bounded memory
however long the input) and answers in completion order. Each actor builds its own translator
once (one model copy per actor) and runs with its share of the CPUs; with a CUDA device each
actor gets its share of the GPUs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from audiotok.units import available_cpus
from models.s2st.translator import (
    SegmentInput,
    SegmentOutput,
    Translator,
    TranslatorOptions,
    build_translator,
)

Tag = TypeVar("Tag")


@dataclass(frozen=True)
class TranslatorInfo:
    """What the job needs to know about the translator before any output comes back."""

    sample_rate: int
    voice_preserving: bool
    description: dict[str, Any]


def info_of(translator: Translator) -> TranslatorInfo:
    return TranslatorInfo(
        translator.sample_rate, translator.voice_preserving, translator.describe()
    )


class Runner(ABC):
    """Translates batches; `info` describes the translator."""

    info: TranslatorInfo

    @abstractmethod
    def run(
        self, batches: Iterable[tuple[Tag, Sequence[SegmentInput]]]
    ) -> Iterator[tuple[Tag, list[SegmentOutput]]]:
        """``(tag, outputs)`` for every ``(tag, segments)``."""

    def close(self) -> None:  # noqa: B027  (nothing to release in process)
        """Release the workers."""


class LocalRunner(Runner):
    """One translator in this process."""

    def __init__(self, translator: Translator) -> None:
        self.translator = translator
        self.info = info_of(translator)

    def run(
        self, batches: Iterable[tuple[Tag, Sequence[SegmentInput]]]
    ) -> Iterator[tuple[Tag, list[SegmentOutput]]]:
        for tag, segments in batches:
            yield tag, self.translator.translate(segments)


class TranslatorWorker:
    """The body of a Ray actor: a translator built in the worker process."""

    def __init__(self, backend: str, options: TranslatorOptions) -> None:
        if options.threads:
            import torch

            torch.set_num_threads(options.threads)
        self.translator = build_translator(backend, options)

    def info(self) -> TranslatorInfo:
        return info_of(self.translator)

    def translate(self, segments: Sequence[SegmentInput]) -> list[SegmentOutput]:
        return self.translator.translate(segments)


class RayRunner(Runner):
    """``workers`` actors, each with its own translator (Ray must be initialised)."""

    def __init__(self, backend: str, options: TranslatorOptions, workers: int) -> None:
        import ray

        threads = options.threads or max(1, available_cpus() // workers)
        options = replace(options, threads=threads)
        gpus = _gpus_per_actor(options.device, workers)
        actor: Any = ray.remote(num_cpus=1, num_gpus=gpus)(TranslatorWorker)
        env = {"env_vars": {"OMP_NUM_THREADS": str(threads)}}
        self.actors: list[Any] = [
            actor.options(runtime_env=env).remote(backend, options) for _ in range(workers)
        ]
        self.info = ray.get(self.actors[0].info.remote())

    def run(
        self, batches: Iterable[tuple[Tag, Sequence[SegmentInput]]]
    ) -> Iterator[tuple[Tag, list[SegmentOutput]]]:
        import ray

        pending: dict[Any, tuple[Tag, Any]] = {}  # future -> (tag, actor)
        idle = list(self.actors) * 2  # two batches per actor in flight
        source = iter(batches)
        exhausted = False
        while True:
            while idle and not exhausted:
                try:
                    tag, segments = next(source)
                except StopIteration:
                    exhausted = True
                    break
                worker = idle.pop()
                pending[worker.translate.remote(list(segments))] = (tag, worker)
            if not pending:
                return
            [ready], _ = ray.wait(list(pending), num_returns=1)
            tag, worker = pending.pop(ready)
            idle.append(worker)
            yield tag, ray.get(ready)

    def close(self) -> None:
        import ray

        for actor in self.actors:
            ray.kill(actor)


def _gpus_per_actor(device: str, workers: int) -> float:
    if not device.startswith("cuda"):
        return 0.0
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return min(1.0, count / workers) if count else 0.0
