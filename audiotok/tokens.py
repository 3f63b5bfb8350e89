"""`Tokens`: the discrete representation of one utterance, and its serialisation.

A `Tokens` holds integer codes ``[n_codebooks, frames]`` plus what is needed to interpret them:
the frame rate, the size of each codebook, the sample rate of the audio they stand for and the
spec of the tokenizer that made them.

Classic codecs (Opus, MP3, ...) produce a real bitstream. Their tokens are its bytes: one
codebook of 256 symbols whose "frame rate" is bytes per second, so `Tokens.bitrate` is exactly
the bitrate measured from the bytes written. ``packet_lengths`` keeps the codec's packet
boundaries so the stream can be decoded again.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import torch

_FORMAT_VERSION = 1


@dataclass(frozen=True, eq=False)
class Tokens:
    """Codes of one utterance.

    Attributes:
        codes: integer tensor ``[K, T]`` (K codebooks, T frames), int64.
        frame_rate: frames per second of audio.
        codebook_sizes: the number of symbols of each codebook, length K.
        sample_rate: rate of the audio the tokenizer works at.
        spec: the tokenizer spec string that produced the codes.
        num_samples: length of the encoded audio at ``sample_rate`` (decoders trim to it).
        packet_lengths: for bitstream tokens, bytes per codec packet ``[P]``; else None.
    """

    codes: torch.Tensor
    frame_rate: float
    codebook_sizes: tuple[int, ...]
    sample_rate: int
    spec: str
    num_samples: int
    packet_lengths: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if self.codes.ndim != 2:
            raise ValueError(f"codes must be [K, T], got shape {tuple(self.codes.shape)}")
        if self.codes.shape[0] != len(self.codebook_sizes):
            raise ValueError(
                f"codes have {self.codes.shape[0]} codebooks but codebook_sizes has "
                f"{len(self.codebook_sizes)} entries"
            )
        if self.codes.dtype != torch.long:
            object.__setattr__(self, "codes", self.codes.long())
        if self.packet_lengths is not None and int(self.packet_lengths.sum()) != self.num_frames:
            raise ValueError("packet_lengths must add up to the number of frames")

    @property
    def num_codebooks(self) -> int:
        return int(self.codes.shape[0])

    @property
    def num_frames(self) -> int:
        return int(self.codes.shape[1])

    @property
    def duration(self) -> float:
        """Seconds of audio the codes stand for."""
        return self.num_samples / self.sample_rate

    @property
    def bits_per_frame(self) -> float:
        return float(sum(math.log2(size) for size in self.codebook_sizes))

    @property
    def bitrate(self) -> float:
        """``frame_rate * sum(log2(codebook_size))`` in bits per second."""
        return self.frame_rate * self.bits_per_frame

    @property
    def is_bitstream(self) -> bool:
        return self.packet_lengths is not None

    def to_bytes(self) -> bytes:
        """The bitstream of a classic codec (bitstream tokens only)."""
        if not self.is_bitstream:
            raise ValueError(f"{self.spec} tokens are not a bitstream")
        return self.codes[0].to(torch.uint8).numpy().tobytes()

    def packets(self) -> list[bytes]:
        """The bitstream split into codec packets (bitstream tokens only)."""
        data = self.to_bytes()
        assert self.packet_lengths is not None
        ends = np.cumsum(self.packet_lengths.numpy())
        starts = np.concatenate([[0], ends[:-1]])
        return [data[s:e] for s, e in zip(starts, ends, strict=True)]

    def _metadata(self) -> dict[str, object]:
        return {
            "format_version": _FORMAT_VERSION,
            "frame_rate": self.frame_rate,
            "codebook_sizes": list(self.codebook_sizes),
            "sample_rate": self.sample_rate,
            "spec": self.spec,
            "num_samples": self.num_samples,
        }

    def save(self, path: str | Path) -> Path:
        """Write ``.npz`` (codes + metadata); other suffixes: use `save_tokens_arrow`."""
        path = Path(path)
        arrays: dict[str, Any] = {  # Any: numpy stubs type the ** values as allow_pickle
            "codes": _compact(self.codes.numpy()),
            "metadata": np.array(json.dumps(self._metadata())),
        }
        if self.packet_lengths is not None:
            arrays["packet_lengths"] = self.packet_lengths.numpy().astype(np.int32)
        # Written beside the target and renamed, so a crash never leaves half a file.
        partial = path.with_name(f".{path.name}.partial")
        with partial.open("wb") as fh:
            np.savez_compressed(fh, **arrays)
        os.replace(partial, path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Tokens:
        with np.load(Path(path), allow_pickle=False) as data:
            meta = json.loads(str(data["metadata"]))
            packets = data["packet_lengths"] if "packet_lengths" in data.files else None
            return cls._from_parts(data["codes"], meta, packets)

    @classmethod
    def _from_parts(
        cls, codes: np.ndarray, meta: dict, packet_lengths: np.ndarray | None
    ) -> Tokens:
        if meta.get("format_version") != _FORMAT_VERSION:
            raise ValueError(f"unsupported tokens format version {meta.get('format_version')}")
        return cls(
            codes=torch.from_numpy(np.asarray(codes, dtype=np.int64)),
            frame_rate=float(meta["frame_rate"]),
            codebook_sizes=tuple(int(s) for s in meta["codebook_sizes"]),
            sample_rate=int(meta["sample_rate"]),
            spec=str(meta["spec"]),
            num_samples=int(meta["num_samples"]),
            packet_lengths=None
            if packet_lengths is None
            else torch.from_numpy(np.asarray(packet_lengths, dtype=np.int64)),
        )


def _compact(codes: np.ndarray) -> np.ndarray:
    """Smallest integer dtype that holds the codes (they are never negative)."""
    peak = int(codes.max()) if codes.size else 0
    for dtype in (np.uint8, np.int16, np.int32):
        if peak <= np.iinfo(dtype).max:
            return codes.astype(dtype)
    return codes.astype(np.int64)


ARROW_SCHEMA = pa.schema(
    [
        ("spec", pa.string()),
        ("codes", pa.list_(pa.list_(pa.int32()))),
        ("frame_rate", pa.float64()),
        ("codebook_sizes", pa.list_(pa.int32())),
        ("sample_rate", pa.int32()),
        ("num_samples", pa.int64()),
        ("packet_lengths", pa.list_(pa.int32())),
    ]
)


def tokens_to_arrow(items: Sequence[Tokens]) -> pa.Table:
    """One row per utterance; ``codes`` is a list of K lists of T ints."""
    columns = {
        "spec": [t.spec for t in items],
        "codes": [t.codes.to(torch.int32).tolist() for t in items],
        "frame_rate": [t.frame_rate for t in items],
        "codebook_sizes": [list(t.codebook_sizes) for t in items],
        "sample_rate": [t.sample_rate for t in items],
        "num_samples": [t.num_samples for t in items],
        "packet_lengths": [
            None if t.packet_lengths is None else t.packet_lengths.tolist() for t in items
        ],
    }
    return pa.table(columns, schema=ARROW_SCHEMA)


def tokens_from_arrow(table: pa.Table) -> list[Tokens]:
    """Inverse of `tokens_to_arrow`."""
    rows = table.select(ARROW_SCHEMA.names).to_pylist()
    return [
        Tokens._from_parts(
            np.asarray(row["codes"], dtype=np.int64).reshape(len(row["codebook_sizes"]), -1),
            {**row, "format_version": _FORMAT_VERSION},
            None if row["packet_lengths"] is None else np.asarray(row["packet_lengths"]),
        )
        for row in rows
    ]


def save_tokens_arrow(
    items: Sequence[Tokens], path: str | Path, *, paths: Sequence[str] | None = None
) -> Path:
    """Write an Arrow IPC file (``.arrow``) with one row per utterance.

    ``paths`` optionally adds a ``path`` column naming each row's source.
    """
    path = Path(path)
    table = tokens_to_arrow(items)
    if paths is not None:
        table = table.append_column("path", pa.array(list(paths), pa.string()))
    partial = path.with_name(f".{path.name}.partial")
    with pa.OSFile(str(partial), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    os.replace(partial, path)
    return path


def load_tokens_arrow(path: str | Path) -> list[Tokens]:
    with pa.memory_map(str(path), "r") as source:
        return tokens_from_arrow(pa.ipc.open_file(source).read_all())
