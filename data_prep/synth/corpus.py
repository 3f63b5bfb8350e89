"""Synthetic parallel speech from parallel text, as GigaS2S built its S2ST training pairs.

``run_synth`` reads two aligned text files (one sentence a line), speaks every line on both sides
with the same speaker id (so an S2ST model can learn to keep the voice), and writes Parquet shards
with paired columns (``SYNTH_SCHEMA``), ``errors.jsonl`` for the lines it skipped and
``manifest.json`` with counts, hours and the configuration.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute
import pyarrow.parquet as pq

from audiotok.atomic import atomic_write_text
from audiotok.audio import resample
from audiotok.errors import AudiotokError
from audiotok.tts_engines import TTSEngine, TTSError, VoiceSpec, get_tts_engine
from data_prep.read import encode_flac_bytes
from data_prep.shards import (
    ShardWriter,
    committed_sources,
    read_sidecar,
    shard_paths,
    sidecar_paths,
)

SYNTH_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("pair", pa.string()),
        ("line", pa.int64()),
        ("speaker", pa.string()),
        ("src_lang", pa.string()),
        ("src_text", pa.string()),
        ("src_audio_flac", pa.binary()),
        ("src_duration", pa.float64()),
        ("tgt_lang", pa.string()),
        ("tgt_text", pa.string()),
        ("tgt_audio_flac", pa.binary()),
        ("tgt_duration", pa.float64()),
        ("sample_rate", pa.int32()),
        ("engine", pa.string()),
        ("voice_params", pa.string()),
    ]
)

DEFAULT_MAX_CHARS = 400
CONFIG_KEY = "audiotok.synth_config"
_SPACES = re.compile(r"\s+")
_T = TypeVar("_T")
_R = TypeVar("_R")


class SynthInputError(AudiotokError, ValueError):
    """The parallel text or the arguments cannot be used (missing, not aligned, bad counts)."""


@dataclass
class SynthReport:
    """What ``run_synth`` did: rows written, lines skipped by reason, hours of speech."""

    out_dir: Path
    pair: str
    lines: int = 0
    rows: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    src_seconds: float = 0.0
    tgt_seconds: float = 0.0
    elapsed_seconds: float = 0.0
    resumed_lines: int = 0

    @property
    def hours(self) -> float:
        return (self.src_seconds + self.tgt_seconds) / 3600.0


@dataclass(frozen=True)
class _Task:
    line: int
    speaker: str
    src_text: str
    tgt_text: str


def read_parallel_text(
    src_path: str | os.PathLike[str], tgt_path: str | os.PathLike[str], limit: int | None = None
) -> list[tuple[str, str]]:
    """The first ``limit`` aligned line pairs of two text files (raw, unstripped of content)."""
    sides = []
    for path in (Path(src_path), Path(tgt_path)):
        try:
            with path.open(encoding="utf-8", newline=None) as handle:
                lines: list[str] = []
                for text in handle:
                    if limit is not None and len(lines) >= limit:
                        break
                    lines.append(text.rstrip("\n"))
        except FileNotFoundError:
            raise SynthInputError(f"{path}: no such text file") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise SynthInputError(f"{path}: cannot read as UTF-8 text ({exc})") from exc
        sides.append(lines)
    src, tgt = sides
    if len(src) != len(tgt):
        raise SynthInputError(
            f"{src_path} has {len(src)} line(s) but {tgt_path} has {len(tgt)}; "
            "parallel files must be aligned line by line"
        )
    return list(zip(src, tgt, strict=True))


def clean_text(text: str) -> str:
    """Whitespace collapsed and trimmed; the text itself is otherwise kept as written."""
    return _SPACES.sub(" ", text).strip()


def speaker_ids(count: int) -> list[str]:
    return [f"spk{index:03d}" for index in range(count)]


def open_engine(engine: str | TTSEngine, languages: Iterable[str]) -> TTSEngine:
    """The engine, checked once for every language it will speak (a missing engine or an
    unsupported language fails here, not once per line)."""
    tts = get_tts_engine(engine)
    for language in languages:
        if language not in tts.languages():
            raise tts.unsupported(language)
        tts.check(language)
    return tts


def speak(
    tts: TTSEngine, speaker: str, language: str, text: str, sample_rate: int
) -> tuple[np.ndarray, VoiceSpec]:
    """``text`` in ``speaker``'s voice, as float32 ``[N]`` at ``sample_rate``, and the voice."""
    voice = tts.voice_for_speaker(speaker, language)
    samples, rate = tts.synthesize(text, language, voice)
    return resample(samples, rate, sample_rate), voice


def worker_threads(workers: int | None) -> int:
    """Synthesis threads: ``workers``, or one per CPU."""
    return max(1, workers or os.cpu_count() or 1)


def map_tts(pool: Executor, fn: Callable[[_T], _R], items: Sequence[_T]) -> list[_R | TTSError]:
    """``fn`` over ``items`` on ``pool``, in item order; an item whose synthesis failed gets its
    ``TTSError`` in place of a result, so one bad line never stops a run."""

    def work(item: _T) -> _R | TTSError:
        try:
            return fn(item)
        except TTSError as exc:
            return exc

    return list(pool.map(work, items))


def run_synth(
    src_path: str | os.PathLike[str],
    tgt_path: str | os.PathLike[str],
    src_lang: str,
    tgt_lang: str,
    out_dir: str | os.PathLike[str],
    *,
    speakers: int = 8,
    voices_per_line: int = 1,
    limit: int | None = None,
    engine: str | TTSEngine = "espeak-ng",
    sample_rate: int = 16000,
    workers: int | None = None,
    max_chars: int = DEFAULT_MAX_CHARS,
    rows_per_shard: int = 2000,
) -> SynthReport:
    """Speak the aligned lines of ``src_path``/``tgt_path`` and write paired Parquet shards.

    Line ``i`` is spoken by ``voices_per_line`` speakers out of ``speakers`` (round robin, so
    speakers are balanced); each speaker id speaks both sides with the engine's
    ``voice_for_speaker`` voice.  Empty lines, lines over ``max_chars`` characters and lines the
    engine fails on are written to ``errors.jsonl`` and skipped.  Rows are written in line order
    whatever ``workers`` is, so the output does not depend on scheduling.
    """
    if speakers < 1:
        raise SynthInputError(f"speakers must be >= 1, got {speakers}")
    if not 1 <= voices_per_line <= speakers:
        raise SynthInputError(f"voices_per_line must be in 1..{speakers}, got {voices_per_line}")
    if limit is not None and limit < 0:
        raise SynthInputError(f"limit must be >= 0, got {limit}")
    tts = open_engine(engine, (src_lang, tgt_lang))
    started = time.perf_counter()
    out = Path(out_dir)
    pair = f"{src_lang}-{tgt_lang}"
    pairs = read_parallel_text(src_path, tgt_path, limit)
    names = speaker_ids(speakers)
    config: dict[str, Any] = {
        "src_file": Path(src_path).name,
        "tgt_file": Path(tgt_path).name,
        "src_lang": src_lang,
        "tgt_lang": tgt_lang,
        "speakers": speakers,
        "voices_per_line": voices_per_line,
        "engine": tts.name,
        "sample_rate": sample_rate,
        "max_chars": max_chars,
    }
    config_hash = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]
    out.mkdir(parents=True, exist_ok=True)
    _check_same_run(out, config_hash)
    done = set(committed_sources(out))
    report = SynthReport(out_dir=out, pair=pair, lines=len(pairs))

    def work(task: _Task) -> dict[str, Any]:
        return _synth_row(tts, task, pair, src_lang, tgt_lang, sample_rate)

    threads = worker_threads(workers)
    chunk = max(threads * 8, rows_per_shard // voices_per_line)
    metadata = {CONFIG_KEY: config_hash}
    with (
        _SynthShardWriter(out, max_rows=rows_per_shard, metadata=metadata) as writer,
        ThreadPoolExecutor(max_workers=threads) as pool,
    ):
        for first in range(0, len(pairs), chunk):
            todo = [
                line
                for line in range(first, min(first + chunk, len(pairs)))
                if _source(pair, line) not in done
            ]
            report.resumed_lines += min(chunk, len(pairs) - first) - len(todo)
            tasks: dict[int, list[_Task]] = {}
            problems: dict[int, dict[str, Any]] = {}
            for line in todo:
                raw_src, raw_tgt = pairs[line]
                src_text, tgt_text = clean_text(raw_src), clean_text(raw_tgt)
                problem = text_problem(src_text, tgt_text, max_chars)
                if problem is not None:
                    reason, side = problem
                    problems[line] = _error_record(pair, line, None, side, reason, raw_src, raw_tgt)
                    continue
                tasks[line] = [
                    _Task(line, names[(line * voices_per_line + k) % speakers], src_text, tgt_text)
                    for k in range(voices_per_line)
                ]
            flat = [task for line_tasks in tasks.values() for task in line_tasks]
            results = dict(zip(flat, map_tts(pool, work, flat), strict=True))
            for line in todo:
                rows: list[dict[str, Any]] = []
                errors = [problems[line]] if line in problems else []
                for task in tasks.get(line, []):
                    result = results[task]
                    if isinstance(result, TTSError):
                        side = "src" if result.language == src_lang else "tgt"
                        errors.append(
                            _error_record(
                                pair,
                                line,
                                task.speaker,
                                side,
                                f"tts_{result.reason}",
                                task.src_text,
                                task.tgt_text,
                                str(result),
                            )
                        )
                        continue
                    rows.append(result)
                    report.rows += 1
                    report.src_seconds += result["src_duration"]
                    report.tgt_seconds += result["tgt_duration"]
                for record in errors:
                    report.skipped[record["reason"]] += 1
                writer.add(
                    {
                        "source_id": _source(pair, line),
                        "path": f"{src_path}#{line + 1}",
                        "duration": sum(row["duration"] for row in rows),
                        "rows": rows,
                        "errors": errors,
                        "dropped": [],
                    }
                )
    report.elapsed_seconds = time.perf_counter() - started
    config["speaker_voices"] = {
        name: {
            src_lang: tts.voice_for_speaker(name, src_lang).params(),
            tgt_lang: tts.voice_for_speaker(name, tgt_lang).params(),
        }
        for name in names
    }
    _finish(out, report, tts, config, config_hash, limit=limit)
    return report


def _source(pair: str, line: int) -> str:
    return f"{pair}:{line}"


def text_problem(src_text: str, tgt_text: str, max_chars: int) -> tuple[str, str] | None:
    """``(reason, side)`` when a line pair cannot be spoken: ``empty`` or ``too_long`` on
    ``src``, ``tgt`` or ``both``; None when both sides are fine."""
    for reason, test in (("empty", lambda t: not t), ("too_long", lambda t: len(t) > max_chars)):
        bad = [side for side, text in (("src", src_text), ("tgt", tgt_text)) if test(text)]
        if bad:
            return reason, "both" if len(bad) == 2 else bad[0]
    return None


def _error_record(
    pair: str,
    line: int,
    speaker: str | None,
    side: str,
    reason: str,
    src_text: str,
    tgt_text: str,
    detail: str = "",
) -> dict[str, Any]:
    return {
        "pair": pair,
        "line": line,
        "speaker": speaker,
        "side": side,
        "reason": reason,
        "src_text": src_text,
        "tgt_text": tgt_text,
        "detail": detail,
    }


def _synth_row(
    tts: TTSEngine, task: _Task, pair: str, src_lang: str, tgt_lang: str, sample_rate: int
) -> dict[str, Any]:
    sides: dict[str, tuple[bytes, float]] = {}
    voices = {}
    sides_text = (("src", src_lang, task.src_text), ("tgt", tgt_lang, task.tgt_text))
    for side, language, text in sides_text:
        samples, voice = speak(tts, task.speaker, language, text, sample_rate)
        sides[side] = (encode_flac_bytes(samples, sample_rate), samples.shape[-1] / sample_rate)
        voices[side] = voice
    src_voice, tgt_voice = voices["src"], voices["tgt"]
    params = {
        "engine": tts.name,
        "variant": src_voice.variant,
        "pitch": src_voice.pitch,
        "rate": src_voice.rate,
        "src_voice": src_voice.name,
        "tgt_voice": tgt_voice.name,
    }
    if src_voice.extra:
        params["extra"] = dict(src_voice.extra)
    timbre = ("variant", "pitch", "rate", "extra")
    if any(getattr(src_voice, key) != getattr(tgt_voice, key) for key in timbre):
        params["tgt_params"] = tgt_voice.params()  # an engine whose voices differ per language
    return {
        "id": f"{pair}-{task.line:06d}-{task.speaker}",
        "pair": pair,
        "line": task.line,
        "speaker": task.speaker,
        "src_lang": src_lang,
        "src_text": task.src_text,
        "src_audio_flac": sides["src"][0],
        "src_duration": sides["src"][1],
        "tgt_lang": tgt_lang,
        "tgt_text": task.tgt_text,
        "tgt_audio_flac": sides["tgt"][0],
        "tgt_duration": sides["tgt"][1],
        "sample_rate": sample_rate,
        "engine": tts.name,
        "voice_params": json.dumps(params, sort_keys=True, ensure_ascii=False),
        # not a column: the shard writer's per-source bookkeeping (seconds kept)
        "duration": sides["src"][1] + sides["tgt"][1],
    }


def _check_same_run(out: Path, config_hash: str) -> None:
    for shard in shard_paths(out):
        metadata = pq.read_metadata(shard).metadata or {}
        found = metadata.get(CONFIG_KEY.encode(), b"").decode()
        if found != config_hash:
            raise SynthInputError(
                f"{out} already holds shards of another run ({shard.name}: "
                f"{'synth config ' + found if found else 'not a synth shard'}); "
                "resume only with the same languages, speakers, engine and sample rate, "
                "or choose a new output folder"
            )


def _finish(
    out: Path,
    report: SynthReport,
    tts: TTSEngine,
    config: dict[str, Any],
    config_hash: str,
    *,
    limit: int | None,
) -> None:
    """``errors.jsonl`` (all shards' error records) and ``manifest.json`` (totals, config)."""
    shards = shard_paths(out)
    records = [rec for shard in shards for rec in read_sidecar(sidecar_paths(shard)[0])]
    atomic_write_text(
        out / "errors.jsonl",
        "".join(json.dumps(rec, ensure_ascii=False, sort_keys=True) + "\n" for rec in records),
    )
    columns = ["speaker", "src_duration", "tgt_duration"]
    table = (
        pq.read_table([str(path) for path in shards], columns=columns)
        if shards
        else SYNTH_SCHEMA.empty_table().select(columns)
    )
    src_seconds = float(pa.compute.sum(table["src_duration"]).as_py() or 0.0)
    tgt_seconds = float(pa.compute.sum(table["tgt_duration"]).as_py() or 0.0)
    speakers = Counter(table["speaker"].to_pylist())
    manifest = {
        "kind": "audiotok-synth",
        "pair": report.pair,
        "config_hash": config_hash,
        "lines": len(committed_sources(out)),
        "rows": table.num_rows,
        "skipped": dict(sorted(Counter(rec["reason"] for rec in records).items())),
        "rows_per_speaker": dict(sorted(speakers.items())),
        "src_hours": src_seconds / 3600.0,
        "tgt_hours": tgt_seconds / 3600.0,
        "hours": (src_seconds + tgt_seconds) / 3600.0,
        "last_run": {
            "limit": limit,
            "lines_read": report.lines,
            "lines_resumed": report.resumed_lines,
            "rows_written": report.rows,
            "hours_written": report.hours,
            "elapsed_seconds": round(report.elapsed_seconds, 3),
        },
        "engine_version": tts.version(),
        "shards": [path.name for path in shards],
        "config": config,
    }
    atomic_write_text(
        out / "manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
    )


class _SynthShardWriter(ShardWriter):
    """The shared shard writer (atomic, bounded, resumable) with the paired synth schema.

    One source is one text line: its rows (one per speaker) and error records commit together.
    """

    def __init__(self, out: Path, *, max_rows: int, metadata: dict[str, str]) -> None:
        super().__init__(out, max_rows=max_rows, metadata=metadata)
        self.schema = SYNTH_SCHEMA
