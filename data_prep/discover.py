"""Stage 1, discover: turn the command line's inputs into `Source` records with stable ids.

Input kinds:

- a directory: every audio file under it (recursively); a directory holding ``wav.scp`` is a
  Kaldi data directory instead;
- a glob (``corpus/**/*.flac``);
- a manifest, ``.tsv`` / ``.csv`` (with a header) or ``.jsonl``: a path column (``path``,
  ``file``, ``audio``, ``audio_path``, ``wav``) and optional ``text`` (``transcript``,
  ``sentence``), ``speaker`` (``speaker_id``, ``spk``), ``language`` (``lang``, ``locale``);
  rows with ``start``/``end`` (seconds) are timed transcripts of the same file; relative paths
  are relative to the manifest's folder;
- Kaldi ``wav.scp`` (or its folder) with optional ``text``, ``utt2spk`` and ``segments``;
  piped commands (``cmd |``) are reported as errors, never run;
- a plain audio file.

Audio files found without a transcript take one from a sidecar ``<stem>.txt`` or ``<stem>.lab``.

Ids: ``source_id = sha1(relative_path + "\\0" + content_hash)[:16]`` where ``content_hash`` is a
SHA-1 over the file size and its first and last ``hash_bytes`` (64 KiB) — cheap on huge files,
stable across machines and mount points (the path is relative to the input it was found
under), and different when a file is replaced. A segment's id is ``<source_id>-<index:05d>``.
"""

from __future__ import annotations

import csv
import glob
import hashlib
import json
import os
import shlex
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from data_prep.config import DiscoverConfig

MANIFEST_SUFFIXES = (".tsv", ".csv", ".jsonl")
_PATH_KEYS = ("path", "file", "audio", "audio_path", "audio_filepath", "wav", "filename")
_TEXT_KEYS = ("text", "transcript", "transcription", "sentence", "normalized_text")
_SPEAKER_KEYS = ("speaker", "speaker_id", "spk", "client_id")
_LANGUAGE_KEYS = ("language", "lang", "locale")


@dataclass
class Source:
    """One input file and what the inputs say about it.

    ``timed`` holds transcripts with timings ``(start, end, text)``; ``error`` a discovery-time
    failure ``(reason, detail)`` that the pipeline records instead of decoding.
    """

    source_id: str
    path: str
    relative: str
    text: str | None = None
    speaker: str | None = None
    language: str | None = None
    timed: list[tuple[float, float, str]] = field(default_factory=list)
    error: tuple[str, str] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "source_id": self.source_id,
            "path": self.path,
            "relative": self.relative,
            "text": self.text,
            "speaker": self.speaker,
            "language": self.language,
            "timed": [list(t) for t in self.timed],
            "error": list(self.error) if self.error else None,
        }


def content_hash(path: str | Path, hash_bytes: int = 65536) -> str:
    """SHA-1 of the size and the first and last ``hash_bytes`` of a file (``missing`` if
    it cannot be read)."""
    digest = hashlib.sha1()
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            digest.update(str(size).encode() + b"\0")
            digest.update(fh.read(hash_bytes))
            if size > hash_bytes:
                fh.seek(max(size - hash_bytes, hash_bytes))
                digest.update(fh.read(hash_bytes))
    except OSError:
        return "missing"
    return digest.hexdigest()


def source_id(relative: str, chash: str) -> str:
    return hashlib.sha1(f"{relative}\0{chash}".encode()).hexdigest()[:16]


def discover(inputs: Iterable[str | Path], config: DiscoverConfig | None = None) -> list[Source]:
    """Every source named by ``inputs``, in input order, each once (first mention wins).
    Sources whose manifest gives no language get ``config.language``."""
    config = config or DiscoverConfig()
    seen: dict[str, Source] = {}
    for item in inputs:
        for source in _discover_one(str(item), config):
            seen.setdefault(source.source_id, source)
    return list(seen.values())


def _discover_one(item: str, config: DiscoverConfig) -> Iterator[Source]:
    path = Path(item)
    if path.is_dir():
        if (path / "wav.scp").is_file():
            yield from _kaldi(path, config)
            return
        extensions = {e.lower() for e in config.extensions}
        for found in sorted(p for p in path.rglob("*") if p.suffix.lower() in extensions):
            if found.is_file():
                yield _audio_source(found, found.relative_to(path).as_posix(), config)
    elif path.name == "wav.scp":
        yield from _kaldi(path.parent, config)
    elif path.suffix.lower() in MANIFEST_SUFFIXES and path.is_file():
        yield from _manifest(path, config)
    elif any(ch in item for ch in "*?["):
        for match in sorted(glob.glob(item, recursive=True)):
            if Path(match).is_file():
                yield _audio_source(Path(match), Path(match).name, config)
    else:
        yield _audio_source(path, path.name, config)


def _make(path: Path, relative: str, config: DiscoverConfig, **facts: Any) -> Source:
    sid = source_id(relative, content_hash(path, config.hash_bytes))
    if not facts.get("language"):
        facts["language"] = config.language  # the corpus language, where a manifest gives none
    return Source(sid, os.path.abspath(path), relative, **facts)


def _audio_source(path: Path, relative: str, config: DiscoverConfig, **facts: Any) -> Source:
    if facts.get("text") is None and not facts.get("timed"):
        facts["text"] = _sidecar_text(path, config.sidecar_transcripts)
    return _make(path, relative, config, **facts)


def _sidecar_text(path: Path, suffixes: tuple[str, ...]) -> str | None:
    for suffix in suffixes:
        sidecar = path.with_suffix(suffix)
        if sidecar.is_file():
            text = " ".join(sidecar.read_text(encoding="utf-8", errors="replace").split())
            return text or None
    return None


def _pick(row: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        value = row.get(key)
        if value not in (None, ""):
            return value
    return None


def _read_manifest_rows(path: Path) -> list[dict[str, Any]]:
    if path.suffix.lower() == ".jsonl":
        rows = []
        with path.open(encoding="utf-8") as fh:
            for number, line in enumerate(fh, 1):
                if line.strip():
                    try:
                        rows.append(json.loads(line))
                    except json.JSONDecodeError as exc:
                        raise ValueError(f"{path}:{number}: not JSON ({exc})") from exc
        return rows
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    with path.open(encoding="utf-8", newline="") as fh:
        return [
            {(k or "").strip().lower(): v for k, v in row.items()}
            for row in csv.DictReader(fh, delimiter=delimiter)
        ]


def _manifest(path: Path, config: DiscoverConfig) -> Iterator[Source]:
    base = path.parent
    grouped: dict[str, dict[str, Any]] = {}
    for number, row in enumerate(_read_manifest_rows(path), 1):
        name = _pick(row, _PATH_KEYS)
        if name is None:
            raise ValueError(f"{path}: row {number} has no path column ({', '.join(_PATH_KEYS)})")
        entry = grouped.setdefault(str(name), {"timed": []})
        text = _pick(row, _TEXT_KEYS)
        start, end = row.get("start"), row.get("end")
        if start not in (None, "") and end not in (None, "") and text is not None:
            entry["timed"].append((float(start), float(end), str(text)))
        elif text is not None:
            entry["text"] = str(text)
        for key, keys in (("speaker", _SPEAKER_KEYS), ("language", _LANGUAGE_KEYS)):
            value = _pick(row, keys)
            if value is not None:
                entry[key] = str(value)
    for name, facts in grouped.items():
        audio = Path(name) if Path(name).is_absolute() else base / name
        relative = Path(os.path.relpath(audio, base)).as_posix()
        facts["timed"] = sorted(facts["timed"])
        yield _audio_source(audio, relative, config, **facts)


def _read_kaldi_map(path: Path) -> dict[str, str]:
    result: dict[str, str] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            key, _, value = line.strip().partition(" ")
            if key:
                result[key] = value.strip()
    return result


def _kaldi(directory: Path, config: DiscoverConfig) -> Iterator[Source]:
    """A Kaldi data directory: ``wav.scp`` (+ ``text``, ``utt2spk``, ``segments``)."""
    wavs = _read_kaldi_map(directory / "wav.scp")
    texts = _read_kaldi_map(directory / "text")
    speakers = _read_kaldi_map(directory / "utt2spk")
    segments = _read_kaldi_map(directory / "segments")
    timed: dict[str, list[tuple[float, float, str]]] = {}
    recording_speaker: dict[str, str] = {}
    for utt, value in segments.items():
        parts = value.split()
        if len(parts) >= 3 and utt in texts:
            timed.setdefault(parts[0], []).append((float(parts[1]), float(parts[2]), texts[utt]))
        if len(parts) >= 1 and utt in speakers:
            recording_speaker.setdefault(parts[0], speakers[utt])
    for key, value in wavs.items():
        if value.endswith("|"):
            relative = f"wav.scp:{key}"
            yield Source(
                source_id(relative, hashlib.sha1(value.encode()).hexdigest()),
                value,
                relative,
                error=("unsupported_input", "Kaldi piped command; not run for safety"),
            )
            continue
        words = shlex.split(value)
        audio = Path(words[0]) if words else Path(value)
        if not audio.is_absolute():
            audio = directory / audio if (directory / audio).exists() else audio
        relative = f"{key}:{audio.name}"
        if segments:
            facts: dict[str, Any] = {
                "timed": sorted(timed.get(key, [])),
                "speaker": recording_speaker.get(key),
            }
        else:
            facts = {"text": texts.get(key), "speaker": speakers.get(key)}
        yield _audio_source(audio, relative, config, **facts)
