"""Reading audiotok Parquet shards back: file listing, pandas / Hugging Face / Ray loaders, FLAC.

Shard directories (``prepare`` and ``synth`` outputs) hold ``*.parquet`` files plus JSON side
files; these helpers list only the committed Parquet files (names starting with ``.`` or ``_``
are temporary or private and skipped), so they work on a directory being written to.
``datasets`` and ``ray`` are imported only by the function that needs them.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow.parquet as pq
import soundfile as sf

if TYPE_CHECKING:
    import pandas as pd


def shard_files(shard_dir: str | os.PathLike[str]) -> list[Path]:
    """The committed ``*.parquet`` files under ``shard_dir`` (or the file itself), sorted."""
    root = Path(shard_dir)
    if root.is_file():
        return [root]
    files = []
    for path in root.rglob("*.parquet"):
        parts = path.relative_to(root).parts
        if not any(part.startswith((".", "_")) for part in parts):
            files.append(path)
    return sorted(files, key=lambda path: path.relative_to(root).as_posix())


def read_pandas(
    shard_dir: str | os.PathLike[str], columns: Sequence[str] | None = None
) -> pd.DataFrame:
    """All rows as one pandas DataFrame (FLAC columns stay ``bytes``)."""
    files = shard_files(shard_dir)
    if not files:
        raise FileNotFoundError(f"{shard_dir}: no Parquet shards")
    table = pq.read_table([str(path) for path in files], columns=list(columns) if columns else None)
    return table.to_pandas()


def iter_rows(
    shard_dir: str | os.PathLike[str],
    columns: Sequence[str] | None = None,
    batch_rows: int = 256,
) -> Iterator[dict[str, Any]]:
    """Rows as dicts, one shard and one batch at a time (memory bounded by ``batch_rows``)."""
    for path in shard_files(shard_dir):
        parquet = pq.ParquetFile(path)
        for batch in parquet.iter_batches(batch_size=batch_rows, columns=columns):
            yield from batch.to_pylist()


def load_hf_dataset(shard_dir: str | os.PathLike[str], split: str = "train", **kwargs: Any) -> Any:
    """A Hugging Face ``datasets.Dataset`` over the shards (needs the ``datasets`` package);
    ``kwargs`` go to ``datasets.load_dataset`` (``cache_dir``, ``streaming`` ...)."""
    import datasets

    files = [str(path) for path in shard_files(shard_dir)]
    if not files:
        raise FileNotFoundError(f"{shard_dir}: no Parquet shards")
    return datasets.load_dataset("parquet", data_files=files, split=split, **kwargs)


def read_ray_dataset(shard_dir: str | os.PathLike[str], **kwargs: Any) -> Any:
    """A Ray ``Dataset`` over the shards (``ray.data.read_parquet``; starts Ray if needed)."""
    import ray.data

    files = [str(path) for path in shard_files(shard_dir)]
    if not files:
        raise FileNotFoundError(f"{shard_dir}: no Parquet shards")
    return ray.data.read_parquet(files, **kwargs)


def decode_audio_bytes(data: bytes) -> tuple[np.ndarray, int]:
    """FLAC/WAV/Ogg bytes from a shard cell -> (float32 samples, sample rate).

    Mono audio comes back as ``[N]``, several channels as ``[channels, N]`` (audiotok's layout).
    """
    samples, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    if samples.shape[1] == 1:
        return np.ascontiguousarray(samples[:, 0]), int(rate)
    return np.ascontiguousarray(samples.T), int(rate)


def encode_flac_bytes(samples: np.ndarray, sample_rate: int) -> bytes:
    """Float audio ``[N]`` or ``[channels, N]`` as 16-bit FLAC bytes (clipped to [-1, 1])."""
    array = np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0)
    if array.ndim == 2:
        array = array.T
    buffer = io.BytesIO()
    sf.write(buffer, array, sample_rate, format="FLAC", subtype="PCM_16")
    return buffer.getvalue()
