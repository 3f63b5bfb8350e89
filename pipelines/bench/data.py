"""The utterances a benchmark runs on: audio files, folders, globs, or `prepare` shards."""

from __future__ import annotations

import dataclasses
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from audiotok.audio import load_audio
from audiotok.errors import AudioLoadError
from data_prep.discover import discover


@dataclass(frozen=True)
class Utterance:
    """One benchmark input: an audio file, or a row of a `prepare` shard (``row`` set, its
    audio in the shard's ``audio_flac`` column)."""

    id: str
    path: str
    text: str | None = None
    language: str | None = None
    row: int | None = None


def find_utterances(inputs: Sequence[str | Path], limit: int | None = None) -> list[Utterance]:
    """Utterances from audio files, folders, globs, manifests (TSV/CSV/JSONL with path, text,
    language: `data_prep.discover`), or `prepare` output folders / shard files
    (``shards/*.parquet`` with FLAC audio). A file named by several inputs counts once (its
    first mention gives text and language). Ids are the path relative to the input's folder
    without extension (``/`` -> ``__``; a manifest path outside its folder: the file name), or
    the shard's segment id; a clash gets the source's content id appended. Sorted by id."""
    found: list[Utterance] = []
    files: list[str | Path] = []
    for item in inputs:
        shards = _shard_files(Path(item))
        for shard in shards:
            found.extend(_shard_utterances(shard))
        if not shards:
            files.append(item)
    taken = {u.id for u in found}
    seen: set[Path] = set()
    for source in discover(files):
        if Path(source.path).resolve() in seen:
            continue  # one file named by two inputs: the first mention gives its facts
        seen.add(Path(source.path).resolve())
        utterance = Utterance(
            id=_file_id(source.relative),
            path=source.path,
            text=source.text,
            language=source.language,
        )
        found.append(_unique(utterance, source.source_id, taken))
    found.sort(key=lambda u: u.id)
    return found[:limit] if limit is not None else found


def _unique(utterance: Utterance, source_id: str, taken: set[str]) -> Utterance:
    """Two inputs with one name (``a/x.wav``, ``b/x.wav`` from two manifests) keep both: the
    second id gets its source's content id."""
    if utterance.id in taken:
        utterance = dataclasses.replace(utterance, id=f"{utterance.id}-{source_id[:8]}")
    taken.add(utterance.id)
    return utterance


def load_utterance(utterance: Utterance) -> tuple[np.ndarray, int]:
    """Mono float32 ``[samples]`` at the source's own rate.

    Raises:
        AudioLoadError: the file (or shard audio) cannot be decoded.
    """
    if utterance.row is None:
        audio = load_audio(utterance.path, mono=True)
        return audio.samples[0], audio.sample_rate
    table = pq.read_table(utterance.path, columns=["audio_flac"])
    data = table.column("audio_flac")[utterance.row].as_py()
    if not data:
        raise AudioLoadError(f"{utterance.path}#{utterance.id}", "empty_file", "no FLAC bytes")
    import soundfile

    try:
        samples, rate = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except (RuntimeError, soundfile.LibsndfileError) as exc:
        raise AudioLoadError(f"{utterance.path}#{utterance.id}", "decode_failed", str(exc)) from exc
    return samples.mean(axis=1), int(rate)


def _shard_files(path: Path) -> list[Path]:
    if path.is_file() and path.suffix == ".parquet":
        return [path]
    if path.is_dir() and (path / "shards").is_dir():
        return sorted((path / "shards").glob("*.parquet"))
    return []


def _shard_utterances(shard: Path) -> list[Utterance]:
    schema = pq.read_schema(shard)
    if "audio_flac" not in schema.names:
        raise AudioLoadError(
            shard, "not_audio", "this shard has no audio_flac column (prepare with audio_flac)"
        )
    table = pq.read_table(shard, columns=["id", "text", "language"])
    rows = table.to_pylist()
    return [
        Utterance(id=r["id"], path=str(shard), text=r["text"], language=r["language"], row=i)
        for i, r in enumerate(rows)
    ]


def _file_id(relative: str) -> str:
    """``a/b.wav`` -> ``a__b``; a path outside the input's folder (a manifest naming
    ``../x/b.wav`` or ``/data/b.wav``) -> ``b``."""
    path = Path(relative).with_suffix("")
    parts = path.parts if not (path.is_absolute() or ".." in path.parts) else (path.name,)
    return re.sub(r"[^0-9A-Za-z._-]+", "_", "__".join(parts))
