"""Units of work as Ray Data rows: any picklable Python object in a ``{"unit": bytes}`` column.

Ray Data needs an Arrow or numpy schema; the pipelines' units (file rows with waveforms,
nested segment lists, result rows) have none, so each travels as one pickled blob. They are
only ever unpickled by the same program that pickled them a step earlier.
"""

from __future__ import annotations

import pickle
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
