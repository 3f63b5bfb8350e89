"""Parquet shards: bounded, atomic, resumable.

`ShardWriter` buffers whole sources (all rows of one source file, plus its drop and error
records) and commits a shard when the next source would take it past ``max_rows`` or
``max_bytes``; a source's rows are never split, so a single source larger than the bounds
gets a shard of its own. Committing shard ``k``:

1. ``_part-k.errors.jsonl`` and ``_part-k.dropped.jsonl`` (the buffered sources' records),
   each written to a ``.*.tmp`` file and renamed;
2. ``.part-k.parquet.<random>.tmp`` written and fsynced, then renamed to ``part-k.parquet``.

Shards live in ``OUT/shards/``; the sidecars and temporary files start with ``_`` or ``.``, which
pyarrow, pandas, ``datasets`` and Ray Data skip, so ``pd.read_parquet("OUT/shards")`` reads the
shards and nothing else.

The rename in step 2 is the commit: the Parquet key-value metadata ``audiotok.sources`` lists
every source the shard completes (kept, fully dropped or failed) with its path, duration and
status, so `committed_sources` reads only footers. A crash before it leaves a ``*.tmp`` and
perhaps orphan sidecars, which `clean_partial` (run by the writer on start) removes; the
sources are then redone. A shard with no rows still commits its sources (empty table).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from audiotok.atomic import atomic_open, atomic_write_text

SOURCES_KEY = b"audiotok.sources"
FORMAT_KEY = b"audiotok.shard_format"
SHARD_FORMAT = "1"
_PART = re.compile(r"^part-(\d{5,})\.parquet$")
SHARDS_SUBDIR = "shards"


def shards_dir(out_dir: str | Path) -> Path:
    """Where a run's shards live: ``OUT/shards``."""
    return Path(out_dir) / SHARDS_SUBDIR


SHARD_COLUMNS: list[tuple[str, pa.DataType]] = [
    ("id", pa.string()),
    ("source_id", pa.string()),
    ("source_path", pa.string()),
    ("start", pa.float64()),
    ("end", pa.float64()),
    ("duration", pa.float64()),
    ("sample_rate", pa.int32()),
    ("language", pa.string()),
    ("language_source", pa.string()),  # given | asr | null (unknown)
    ("text", pa.string()),  # "" when there is no usable text
    ("text_source", pa.string()),  # given | asr | null
    ("no_text_reason", pa.string()),  # why text is "" (null when there is text)
    ("asr_text", pa.string()),
    ("asr_cer", pa.float32()),
    ("asr_avg_logprob", pa.float32()),  # the ASR decoder's evidence (null: ASR did not run)
    ("asr_no_speech_prob", pa.float32()),
    ("asr_compression_ratio", pa.float32()),
    ("speaker", pa.string()),
    ("speaker_embedding", pa.list_(pa.float32())),
    ("snr_db", pa.float32()),
    ("speech_ratio", pa.float32()),
    ("clipping_ratio", pa.float32()),
    ("dnsmos_ovrl", pa.float32()),
]
TOKENS_TYPE = pa.list_(pa.list_(pa.int32()))


def shard_schema(token_columns: Iterable[str] = (), audio_flac: bool = False) -> pa.Schema:
    """The shard schema: `SHARD_COLUMNS`, then ``<tokens_x>`` (list<list<int32>>, ``[K][T]``)
    and ``<tokens_x>_frame_rate`` (float32) per tokenizer, then ``audio_flac`` (binary)."""
    fields = [pa.field(name, kind) for name, kind in SHARD_COLUMNS]
    for column in token_columns:
        fields += [pa.field(column, TOKENS_TYPE), pa.field(f"{column}_frame_rate", pa.float32())]
    if audio_flac:
        fields.append(pa.field("audio_flac", pa.binary()))
    return pa.schema(fields)


def shard_paths(out_dir: str | Path) -> list[Path]:
    """Committed shards of the run in ``out_dir``, in index order."""
    out = shards_dir(out_dir)
    if not out.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in out.iterdir() if (m := _PART.match(p.name))]
    return [p for _, p in sorted(found)]


def sidecar_paths(shard: Path) -> tuple[Path, Path]:
    stem = shard.name[: -len(".parquet")]
    return shard.with_name(f"_{stem}.errors.jsonl"), shard.with_name(f"_{stem}.dropped.jsonl")


def clean_partial(out_dir: str | Path) -> list[Path]:
    """Remove what an interrupted commit left: ``*.tmp`` files and sidecars without their
    shard. Returns the removed paths."""
    out = shards_dir(out_dir)
    if not out.is_dir():
        return []
    removed = []
    committed = {p.name[: -len(".parquet")] for p in shard_paths(out_dir)}
    for path in sorted(out.iterdir()):
        orphan = (
            path.name.startswith("_part-")
            and path.name.endswith((".errors.jsonl", ".dropped.jsonl"))
            and path.name[1:].split(".")[0] not in committed
        )
        if path.is_file() and (path.name.endswith(".tmp") or orphan):
            path.unlink()
            removed.append(path)
    return removed


def committed_sources(out_dir: str | Path) -> dict[str, dict[str, Any]]:
    """``source_id -> {path, duration, status, segments, kept_seconds, shard}`` for every
    source a committed shard completes; reads only the Parquet footers."""
    result: dict[str, dict[str, Any]] = {}
    for shard in shard_paths(out_dir):
        metadata = pq.read_metadata(shard).metadata or {}
        for sid, info in json.loads(metadata.get(SOURCES_KEY, b"{}")).items():
            result[sid] = {**info, "shard": shard.name}
    return result


def read_sidecar(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def _jsonl(records: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in records)


class ShardWriter:
    """Writes file results (see `data_prep.stages.finalize`) into committed Parquet shards.

    Args:
        out_dir: the output folder; partial files of an earlier run are removed on start and
            numbering continues after the last committed shard.
        token_columns: ``tokens_<spec>`` column names (fixed schema for every shard).
        audio_flac: add the ``audio_flac`` column.
        max_rows, max_bytes: shard bounds (rows, estimated bytes); whole sources only.
        metadata: extra key-value metadata for every shard (e.g. the config hash).
    """

    def __init__(
        self,
        out_dir: str | Path,
        *,
        token_columns: Iterable[str] = (),
        audio_flac: bool = False,
        max_rows: int = 2000,
        max_bytes: int = 256 * 1024 * 1024,
        metadata: dict[str, str] | None = None,
    ) -> None:
        if max_rows < 1 or max_bytes < 1:
            raise ValueError("max_rows and max_bytes must be positive")
        self.run_dir = Path(out_dir)
        self.out = shards_dir(out_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        clean_partial(self.run_dir)
        self.schema = shard_schema(token_columns, audio_flac)
        self.max_rows, self.max_bytes = max_rows, max_bytes
        self.metadata = {k.encode(): v.encode() for k, v in (metadata or {}).items()}
        existing = shard_paths(self.run_dir)
        self._next = int(_PART.match(existing[-1].name).group(1)) + 1 if existing else 0  # type: ignore[union-attr]
        self._rows: list[dict[str, Any]] = []
        self._sources: dict[str, dict[str, Any]] = {}
        self._errors: list[dict[str, Any]] = []
        self._dropped: list[dict[str, Any]] = []
        self._bytes = 0
        self.committed: list[Path] = []

    def add(self, result: dict[str, Any]) -> None:
        """Buffer one source's result; commits the buffer first if this source would not fit."""
        rows = result["rows"]
        size = sum(_row_bytes(r) for r in rows)
        if self._sources and (
            len(self._rows) + len(rows) > self.max_rows or self._bytes + size > self.max_bytes
        ):
            self.flush()
        status = "error" if result["errors"] else ("kept" if rows else "dropped")
        self._sources[result["source_id"]] = {
            "path": result["path"],
            "duration": result["duration"],
            "status": status,
            "segments": len(rows),
            "kept_seconds": float(sum(r["duration"] for r in rows)),
        }
        self._rows.extend(rows)
        self._errors.extend(result["errors"])
        self._dropped.extend(result["dropped"])
        self._bytes += size
        if len(self._rows) >= self.max_rows or self._bytes >= self.max_bytes:
            self.flush()

    def flush(self) -> Path | None:
        """Commit the buffered sources as the next shard (nothing if none are buffered)."""
        if not self._sources:
            return None
        shard = self.out / f"part-{self._next:05d}.parquet"
        errors_path, dropped_path = sidecar_paths(shard)
        atomic_write_text(errors_path, _jsonl(self._errors))
        atomic_write_text(dropped_path, _jsonl(self._dropped))
        metadata = {
            **self.metadata,
            FORMAT_KEY: SHARD_FORMAT.encode(),
            SOURCES_KEY: json.dumps(self._sources, sort_keys=True).encode(),
        }
        table = self._table().replace_schema_metadata(metadata)
        with atomic_open(shard, "wb") as handle:
            pq.write_table(table, handle, compression="zstd")
        self._next += 1
        self._rows, self._sources, self._errors, self._dropped, self._bytes = [], {}, [], [], 0
        self.committed.append(shard)
        return shard

    def close(self) -> None:
        self.flush()

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        # On an exception (Ctrl-C included) the buffer is discarded: its sources were never
        # committed and are redone on the next run; nothing partial becomes visible.
        if exc_type is None:
            self.close()

    def _table(self) -> pa.Table:
        columns = []
        for field in self.schema:
            values = [row.get(field.name) for row in self._rows]
            if field.type == TOKENS_TYPE:
                columns.append(_tokens_array(values))
            elif field.type == pa.list_(pa.float32()):
                columns.append(
                    pa.array(
                        [None if v is None else np.asarray(v, np.float32) for v in values],
                        type=field.type,
                    )
                )
            else:
                columns.append(pa.array(values, type=field.type))
        return pa.Table.from_arrays(columns, schema=self.schema)


def _tokens_array(values: list[Any]) -> pa.Array:
    """``[K, T]`` int arrays (or None) -> list<list<int32>> without going through Python lists."""
    if any(v is None for v in values):
        return pa.array(
            [None if v is None else np.asarray(v).tolist() for v in values], type=TOKENS_TYPE
        )
    codes = [np.asarray(v, dtype=np.int32) for v in values]
    inner_counts = [c.shape[1] for c in codes for _ in range(c.shape[0])]
    inner_offsets = np.concatenate([[0], np.cumsum(inner_counts, dtype=np.int64)]).astype(np.int32)
    outer_offsets = np.concatenate(
        [[0], np.cumsum([c.shape[0] for c in codes], dtype=np.int64)]
    ).astype(np.int32)
    flat = np.concatenate([c.ravel() for c in codes]) if codes else np.zeros(0, np.int32)
    inner = pa.ListArray.from_arrays(pa.array(inner_offsets), pa.array(flat, type=pa.int32()))
    return pa.ListArray.from_arrays(pa.array(outer_offsets), inner)


def _row_bytes(row: dict[str, Any]) -> int:
    size = 256
    for value in row.values():
        if isinstance(value, np.ndarray):
            size += value.nbytes
        elif isinstance(value, str | bytes):
            size += len(value)
    return size
