"""Parquet shards to WebDataset tar shards.

``export_webdataset`` turns any audiotok Parquet shard directory (``prepare`` or ``synth``
output) into ``{prefix}-000000.tar``, ... for WebDataset-style streaming training.  Each row
becomes one sample whose files share a key (the row ``id``, made tar-safe):

- ``{key}.flac`` for an ``audio_flac``/``audio`` column, ``{key}.src.flac`` / ``{key}.tgt.flac``
  for ``src_audio_flac`` / ``tgt_audio_flac`` (the extension follows the bytes: flac, wav, ogg);
  a column of raw float samples is encoded to FLAC at the row's ``sample_rate``;
- ``{key}.tokens_<spec>.npy`` for each ``tokens_<spec>`` column (codes ``[K, T]`` or ``[T]``);
- ``{key}.json`` with every other column (and the original id).

Tars are written to a temporary name and renamed when complete; ``index.json`` lists them.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import tarfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from audiotok.atomic import atomic_write_text
from audiotok.errors import AudiotokError
from data_prep.read import encode_flac_bytes, shard_files

_KEY_UNSAFE = re.compile(r"[^A-Za-z0-9_\-]")
_AUDIO_COLUMN = re.compile(r"^(?:(?P<prefix>[A-Za-z0-9]+)_)?audio(?:_flac)?$")
_MAGIC = ((b"fLaC", "flac"), (b"RIFF", "wav"), (b"OggS", "ogg"), (b"ID3", "mp3"))


class ExportError(AudiotokError):
    """The shard directory cannot be exported (nothing to read, clashing keys)."""


@dataclass
class ExportReport:
    out_dir: Path
    samples: int = 0
    tars: list[str] = field(default_factory=list)
    bytes_written: int = 0


def tar_key(value: str) -> str:
    """A WebDataset key: no dots (they start the extension) and no path separators."""
    key = _KEY_UNSAFE.sub("_", value)
    return key or "_"


def token_extension(column: str) -> str:
    """``tokens_encodec-24khz@1.5kbps`` -> ``tokens_encodec-24khz@1_5kbps.npy`` (no inner dots)."""
    return column.replace(".", "_").replace("/", "_") + ".npy"


def export_webdataset(
    shard_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    samples_per_tar: int = 1000,
    prefix: str = "shard",
    batch_rows: int = 256,
) -> ExportReport:
    """Write the rows of every Parquet shard under ``shard_dir`` as WebDataset tars.

    Rows are read a batch at a time, so memory is bounded by ``batch_rows`` rows and one tar
    is streamed to disk.  Raises ``ExportError`` when there are no shards or two rows map to the
    same key.
    """
    if samples_per_tar < 1:
        raise ValueError(f"samples_per_tar must be >= 1, got {samples_per_tar}")
    files = shard_files(shard_dir)
    if not files:
        raise ExportError(f"{shard_dir}: no Parquet shards to export")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = ExportReport(out_dir=out)
    counts: dict[str, int] = {}
    seen: set[str] = set()
    writer: _TarShard | None = None
    try:
        for key, members in _samples(files, batch_rows):
            if key in seen:
                raise ExportError(f"{shard_dir}: two rows have the WebDataset key {key!r}")
            seen.add(key)
            if writer is None or writer.count >= samples_per_tar:
                if writer is not None:
                    report.bytes_written += writer.close()
                name = f"{prefix}-{len(report.tars):06d}.tar"
                report.tars.append(name)
                writer = _TarShard(out / name)
            writer.add(key, members)
            counts[report.tars[-1]] = writer.count
            report.samples += 1
        if writer is not None:
            report.bytes_written += writer.close()
            writer = None
    finally:
        if writer is not None:
            writer.abort()
    index = {
        "source": str(shard_dir),
        "samples": report.samples,
        "tars": [{"name": name, "samples": counts[name]} for name in report.tars],
    }
    atomic_write_text(out / "index.json", json.dumps(index, indent=2) + "\n")
    return report


def _samples(files: list[Path], batch_rows: int) -> Iterator[tuple[str, list[tuple[str, bytes]]]]:
    for path in files:
        parquet = pq.ParquetFile(path)
        row_number = 0
        for batch in parquet.iter_batches(batch_size=batch_rows):
            layout = _Layout.of(batch.schema)
            for row in batch.to_pylist():
                original = row.get("id")
                if original is None:
                    original = f"{path.stem}-{row_number:06d}"
                row_number += 1
                yield tar_key(str(original)), layout.members(row, str(original))


@dataclass
class _Layout:
    audio: dict[str, str]  # column -> extension stem ("" or "src.")
    tokens: list[str]
    skipped: list[str]

    @classmethod
    def of(cls, schema: pa.Schema) -> _Layout:
        audio: dict[str, str] = {}
        tokens: list[str] = []
        skipped: list[str] = []
        for item in schema:
            match = _AUDIO_COLUMN.match(item.name)
            if match and (_is_binary(item.type) or _is_float_list(item.type)):
                audio[item.name] = f"{match['prefix']}." if match["prefix"] else ""
            elif item.name.startswith("tokens_"):
                tokens.append(item.name)
            elif _is_binary(item.type):
                skipped.append(item.name)
        return cls(audio, tokens, skipped)

    def members(self, row: dict[str, Any], original_id: str) -> list[tuple[str, bytes]]:
        members: list[tuple[str, bytes]] = []
        for column, stem in self.audio.items():
            value = row[column]
            if value is None:
                continue
            if isinstance(value, list):  # raw float samples
                rate = int(row.get("sample_rate") or 16000)
                data = encode_flac_bytes(np.asarray(value, dtype=np.float32), rate)
            else:
                data = bytes(value)
            members.append((f"{stem}{_audio_extension(data)}", data))
        for column in self.tokens:
            if row[column] is None:
                continue
            buffer = io.BytesIO()
            np.save(buffer, _token_array(row[column]), allow_pickle=False)
            members.append((token_extension(column), buffer.getvalue()))
        excluded = set(self.audio) | set(self.tokens) | set(self.skipped)
        metadata = {name: _jsonable(value) for name, value in row.items() if name not in excluded}
        metadata["id"] = original_id
        if self.tokens:
            metadata["token_files"] = {column: token_extension(column) for column in self.tokens}
        members.append(("json", json.dumps(metadata, ensure_ascii=False).encode("utf-8")))
        return members


def _is_binary(kind: pa.DataType) -> bool:
    return bool(pa.types.is_binary(kind) or pa.types.is_large_binary(kind))


def _is_float_list(kind: pa.DataType) -> bool:
    return (pa.types.is_list(kind) or pa.types.is_large_list(kind)) and pa.types.is_floating(
        kind.value_type
    )


def _audio_extension(data: bytes) -> str:
    for magic, extension in _MAGIC:
        if data.startswith(magic):
            return extension
    return "audio"


def _token_array(value: Any) -> np.ndarray:
    """A token cell as an integer array: nested lists, a flat list, a Tokens struct or bytes."""
    if isinstance(value, dict):  # audiotok.tokens Arrow struct
        value = value.get("codes", value)
    if isinstance(value, (bytes, bytearray)):
        return np.frombuffer(bytes(value), dtype=np.uint8)
    array = np.asarray(value)
    if array.dtype == object:  # ragged rows
        raise ExportError("token codes with rows of different lengths cannot be saved as .npy")
    return array.astype(np.int64 if array.size and array.max() > 2**31 - 1 else np.int32)


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return None
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)  # timestamps, decimals


class _TarShard:
    """One tar written under a temporary name and renamed when closed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        self.tar = tarfile.open(self.temporary, "w", format=tarfile.PAX_FORMAT)  # noqa: SIM115
        self.count = 0

    def add(self, key: str, members: list[tuple[str, bytes]]) -> None:
        for extension, data in members:
            info = tarfile.TarInfo(f"{key}.{extension}")
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 0  # reproducible tars
            self.tar.addfile(info, io.BytesIO(data))
        self.count += 1

    def close(self) -> int:
        self.tar.close()
        os.replace(self.temporary, self.path)
        return self.path.stat().st_size

    def abort(self) -> None:
        self.tar.close()
        self.temporary.unlink(missing_ok=True)
