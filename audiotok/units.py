"""Units of work as Ray Data rows: any picklable Python object in a ``{"unit": bytes}`` column.

Ray Data needs an Arrow or numpy schema; the pipelines' units (file rows with waveforms,
nested segment lists, result rows) have none, so each travels as one pickled blob. They are
only ever unpickled by the same program that pickled them a step earlier.
"""

from __future__ import annotations

import os
import pickle
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

COLUMN = "unit"


def pack_units(units: Sequence[Any]) -> dict[str, np.ndarray]:
    """``units`` -> a numpy batch ``{"unit": object array of bytes}``."""
    blobs = np.empty(len(units), dtype=object)
    blobs[:] = [pickle.dumps(unit, protocol=5) for unit in units]
    return {COLUMN: blobs}


def unpack_units(batch: dict[str, np.ndarray]) -> list[Any]:
    """Inverse of `pack_units`."""
    return [pickle.loads(blob) for blob in batch[COLUMN]]


def unit_items(units: Sequence[Any]) -> list[dict[str, bytes]]:
    """Rows for ``ray.data.from_items``: one ``{"unit": bytes}`` per unit."""
    return [{COLUMN: blob} for blob in pack_units(units)[COLUMN]]


@contextmanager
def ray_session(workers: int, address: str | None = None) -> Iterator[None]:
    """Ray for one job: the instance this process already joined, else the cluster at
    ``address``, else a local instance with ``workers`` CPUs; shut down only if started here."""
    import ray

    started_here = not ray.is_initialized()
    if started_here:
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            init_local_ray(workers)
    try:
        yield
    finally:
        if started_here:
            ray.shutdown()


def init_local_ray(workers: int) -> None:
    """Start a local Ray instance for one job: ``workers`` CPUs, no dashboard, workers' logs
    kept out of the driver's output."""
    import ray

    ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)


def use_ray_for(workers: int, address: str | None) -> bool:
    """Whether a job of ``workers`` workers should run on Ray: with two workers or more, a
    cluster address, or a Ray instance this process already joined. One local worker runs
    in process: starting a local cluster and its service actors costs seconds that one
    worker cannot win back."""
    if workers > 1 or address:
        return True
    ray = sys.modules.get("ray")  # never imported just to ask
    return bool(ray is not None and ray.is_initialized())


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1
