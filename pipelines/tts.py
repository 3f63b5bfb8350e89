"""``audiotok tts``: lines of text to 24 kHz WAV files through any `SpeechGenerator`.

Outputs in ``OUT``: one ``<id>.wav`` per line, ``manifest.jsonl`` (one object per line
synthesised: the fields of `manifest_entry`), ``errors.jsonl`` (``id``, ``reason``, ``detail``
for every line that failed), ``summary.json`` (``load_s``, ``synth_s`` and the counts), and with
``--save-mel`` ``mel/<id>.npy`` and ``mel/<id>.prompt.npy``.

A line's WAV is written atomically, then its manifest entry appended and fsynced, so a killed
run loses at most the lines in flight. A rerun skips lines whose manifest entry has the same
text and settings and whose WAV exists; the manifest is rewritten (atomically) at the end in
line order.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from audiotok.atomic import atomic_open, atomic_write_text
from audiotok.audio import load_audio
from audiotok.errors import AudiotokError
from audiotok.progress import advance
from models.tts.generator import (
    SpeechGenerator,
    Synthesis,
    SynthesisError,
    SynthesisRequest,
    Voice,
)

MANIFEST = "manifest.jsonl"
ERRORS = "errors.jsonl"
SUMMARY = "summary.json"
MEL_DIR = "mel"


@dataclass(frozen=True)
class Line:
    """One utterance to speak: its id (file stem) and text."""

    id: str
    text: str


@dataclass(frozen=True)
class TTSSettings:
    """What decides whether a stored output can be reused (see `settings_hash`)."""

    model: str
    voice: str | None = None  # SHA-1 of the voice file's bytes
    voice_text: str = ""
    speaker: str | None = None
    greedy: bool = False
    seed: int | None = None
    stream: bool = False
    save_mel: bool = False


@dataclass
class TTSReport:
    """What `run_tts` did."""

    written: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    load_s: float = 0.0
    synth_s: float = 0.0
    audio_s: float = 0.0
    first_chunk_s: list[float] = field(default_factory=list)


def read_lines(texts: Sequence[str] = (), text_file: Path | None = None) -> list[Line]:
    """``--text`` values, then ``--text-file`` lines (``id<TAB>text`` or plain text; plain lines
    are named by their line number, ``--text`` values ``text-0001`` ...). Empty lines stay in
    (they become ``empty_text`` errors), so numbering follows the file."""
    lines = [Line(f"text-{i:04d}", text) for i, text in enumerate(texts, start=1)]
    if text_file is not None:
        try:
            content = text_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise AudiotokError(f"tts: cannot read --text-file {text_file}: {exc}") from exc
        for number, raw in enumerate(content.splitlines(), start=1):
            name, sep, text = raw.partition("\t")
            if sep and name.strip():
                lines.append(Line(_safe_id(name.strip()), text))
            else:
                lines.append(Line(f"{number:04d}", raw))
    ids = [line.id for line in lines]
    duplicated = sorted({i for i in ids if ids.count(i) > 1})
    if duplicated:
        raise AudiotokError(f"tts: line ids must be unique; repeated: {', '.join(duplicated)}")
    return lines


def _safe_id(name: str) -> str:
    """An id usable as a file stem (path separators and odd characters replaced)."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name).lstrip(".") or "_"


def settings_hash(settings: TTSSettings, text: str) -> str:
    payload = json.dumps({"settings": settings.__dict__, "text": text}, sort_keys=True)
    return hashlib.sha1(payload.encode()).hexdigest()[:16]


def load_voice(path: Path | None, text: str) -> tuple[Voice | None, str | None]:
    """The ``--voice`` file as a `Voice` and the SHA-1 of its bytes (None, None without one).

    An unreadable file is not fatal here: the error is given to every line (each gets its own
    ``errors.jsonl`` entry), as the job promises for bad input.
    """
    if path is None:
        return None, None
    try:
        digest = hashlib.sha1(path.read_bytes()).hexdigest()
        audio = load_audio(path, mono=True)
    except (OSError, AudiotokError) as exc:
        raise SynthesisError("voice_unreadable", f"{path}: {exc}") from exc
    return Voice(audio.mono, audio.sample_rate, text=text, name=str(path)), digest


def run_tts(
    lines: Sequence[Line],
    out_dir: Path,
    load_generator: Callable[[], SpeechGenerator],
    settings: TTSSettings,
    *,
    voice_path: Path | None = None,
    batch_size: int = 8,
    progress: bool = True,
) -> TTSReport:
    """Synthesize ``lines`` into ``out_dir`` (see the module docstring).

    ``load_generator`` is called only when some line needs synthesis (reruns that have every
    output load nothing).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    report = TTSReport()
    previous = _read_manifest(out_dir / MANIFEST)
    voice, voice_error = _voice_or_error(voice_path, settings.voice_text)
    settings = TTSSettings(**{**settings.__dict__, "voice": _voice_digest(voice_path)})
    entries: dict[str, dict[str, Any]] = {}
    todo: list[Line] = []
    for line in lines:
        stored = previous.get(line.id)
        key = settings_hash(settings, line.text)
        if stored and stored.get("settings") == key and (out_dir / stored["path"]).is_file():
            entries[line.id] = stored
            report.skipped.append(line.id)
        elif voice_error is not None:
            report.failed.append(_error_row(line.id, voice_error))
        else:
            todo.append(line)
    if todo:
        started = time.perf_counter()
        generator = load_generator()
        report.load_s = time.perf_counter() - started
        bar = tqdm(total=len(todo), unit="line", desc="tts", disable=not progress)
        started = time.perf_counter()
        # entries are appended durably as lines finish, so a killed run's work is reused
        with (out_dir / MANIFEST).open("a", encoding="utf-8") as manifest:
            made = _synthesize(generator, todo, voice, settings, batch_size, out_dir, report)
            for synthesis, line in made:
                if synthesis.error is not None:
                    report.failed.append(_error_row(line.id, synthesis.error))
                else:
                    entry = _write_outputs(synthesis, line, out_dir, settings)
                    entries[line.id] = entry
                    _append(manifest, entry)
                    report.written.append(line.id)
                    report.audio_s += synthesis.duration_s
                advance(bar, 1)
        bar.close()
        report.synth_s = time.perf_counter() - started
    _write_manifest(out_dir / MANIFEST, [entries[x.id] for x in lines if x.id in entries])
    _write_errors(out_dir / ERRORS, report.failed)
    atomic_write_text(out_dir / SUMMARY, json.dumps(_summary(report, settings), indent=2) + "\n")
    return report


def _voice_or_error(path: Path | None, text: str) -> tuple[Voice | None, SynthesisError | None]:
    try:
        return load_voice(path, text)[0], None
    except SynthesisError as exc:
        return None, exc


def _voice_digest(path: Path | None) -> str | None:
    try:
        return hashlib.sha1(path.read_bytes()).hexdigest() if path is not None else None
    except OSError:
        return None


def _synthesize(
    generator: SpeechGenerator,
    lines: Sequence[Line],
    voice: Voice | None,
    settings: TTSSettings,
    batch_size: int,
    out_dir: Path,
    report: TTSReport,
) -> Iterator[tuple[Synthesis, Line]]:
    """Syntheses in line order: batches of ``batch_size``, or one streamed line at a time."""
    requests = [_request(line, voice, settings) for line in lines]
    if settings.stream:
        for request, line in zip(requests, lines, strict=True):
            yield _stream_one(generator, request, out_dir, report), line
        return
    for start in range(0, len(requests), max(1, batch_size)):
        batch = requests[start : start + batch_size]
        yield from zip(generator.synthesize(batch), lines[start : start + batch_size], strict=True)


def _request(line: Line, voice: Voice | None, settings: TTSSettings) -> SynthesisRequest:
    seed = None
    if settings.seed is not None or settings.greedy:
        # one seed per line, from the run's seed and the line's id: batching and reruns do
        # not change a line's audio
        digest = hashlib.sha1(f"{settings.seed or 0}:{line.id}".encode()).digest()
        seed = int.from_bytes(digest[:4], "little")
    return SynthesisRequest(
        id=line.id,
        text=line.text,
        voice=voice,
        speaker=settings.speaker,
        greedy=settings.greedy,
        seed=seed,
    )


def _stream_one(
    generator: SpeechGenerator, request: SynthesisRequest, out_dir: Path, report: TTSReport
) -> Synthesis:
    """Stream one line, appending each chunk to its WAV file as it comes."""
    import soundfile as sf

    path = out_dir / f"{request.id}.wav"
    partial = out_dir / f".{request.id}.partial.wav"
    try:
        with sf.SoundFile(
            partial, "w", samplerate=generator.sample_rate, channels=1, subtype="PCM_16"
        ) as sink:
            result = None
            for chunk in generator.stream(request):
                if chunk.index == 0:
                    report.first_chunk_s.append(chunk.seconds)
                sink.write(np.clip(chunk.audio, -1.0, 1.0))
                sink.flush()
                result = chunk.result
    except SynthesisError as exc:
        partial.unlink(missing_ok=True)
        return Synthesis(request.id, np.zeros(0, np.float32), generator.sample_rate, error=exc)
    if result is None:
        raise RuntimeError(f"tts: stream of {request.id} ended without a final chunk")
    if result.error is not None:  # a later piece failed: the line is not done
        partial.unlink(missing_ok=True)
        return result
    partial.replace(path)
    return result


def _write_outputs(
    synthesis: Synthesis, line: Line, out_dir: Path, settings: TTSSettings
) -> dict[str, Any]:
    wav = out_dir / f"{line.id}.wav"
    if not settings.stream:  # a streamed line's WAV was written as it came
        with atomic_open(wav, "wb") as handle:
            save_audio_to(handle, synthesis.audio, synthesis.sample_rate)
    entry = manifest_entry(synthesis, line, wav.relative_to(out_dir).as_posix())
    if settings.save_mel:
        (out_dir / MEL_DIR).mkdir(exist_ok=True)
        entry["mel"] = _save_npy(out_dir, f"{line.id}.npy", synthesis.mel)
        entry["prompt_mel"] = _save_npy(out_dir, f"{line.id}.prompt.npy", synthesis.prompt_mel)
    entry["settings"] = settings_hash(settings, line.text)
    return entry


def save_audio_to(handle: Any, audio: np.ndarray, sample_rate: int) -> None:
    import soundfile as sf

    sf.write(handle, np.clip(audio, -1.0, 1.0), sample_rate, format="WAV", subtype="PCM_16")


def _save_npy(out_dir: Path, name: str, array: np.ndarray | None) -> str:
    relative = f"{MEL_DIR}/{name}"
    with atomic_open(out_dir / relative, "wb") as handle:
        np.save(handle, np.zeros((0, 0), np.float32) if array is None else array)
    return relative


def manifest_entry(synthesis: Synthesis, line: Line, path: str) -> dict[str, Any]:
    """The manifest fields of one synthesised line."""
    return {
        "id": line.id,
        "text": line.text,
        "path": path,
        "sample_rate": synthesis.sample_rate,
        "duration_s": round(synthesis.duration_s, 6),
        "text_tokens": synthesis.text_tokens,
        "prompt_text_tokens": synthesis.prompt_text_tokens,
        "prompt_speech_tokens": synthesis.prompt_speech_tokens,
        "speaker_embedding": [float(x) for x in synthesis.speaker_embedding],
        "speech_tokens": synthesis.speech_tokens,
        "capped": synthesis.capped,
    }


def _error_row(line_id: str, error: SynthesisError) -> dict[str, str]:
    return {"id": line_id, "reason": error.reason, "detail": error.detail}


def _read_manifest(path: Path) -> dict[str, dict[str, Any]]:
    entries: dict[str, dict[str, Any]] = {}
    if not path.is_file():
        return entries
    for raw in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(raw)
        except json.JSONDecodeError:
            continue  # a torn last line
        if isinstance(entry, dict) and "id" in entry and "path" in entry:
            entries[str(entry["id"])] = entry
    return entries


def _append(handle: Any, entry: dict[str, Any]) -> None:
    handle.write(json.dumps(entry) + "\n")
    handle.flush()
    os.fsync(handle.fileno())


def _write_manifest(path: Path, entries: list[dict[str, Any]]) -> None:
    atomic_write_text(path, "".join(json.dumps(entry) + "\n" for entry in entries))


def _write_errors(path: Path, rows: list[dict[str, str]]) -> None:
    atomic_write_text(path, "".join(json.dumps(row) + "\n" for row in rows))


def _summary(report: TTSReport, settings: TTSSettings) -> dict[str, Any]:
    synth = report.synth_s
    summary: dict[str, Any] = {
        "load_s": round(report.load_s, 4),
        "synth_s": round(synth, 4),
        "lines_written": len(report.written),
        "lines_skipped": len(report.skipped),
        "lines_failed": len(report.failed),
        "audio_s": round(report.audio_s, 4),
        "real_time_factor": round(synth / report.audio_s, 4) if report.audio_s else None,
        "settings": settings.__dict__,
    }
    if report.first_chunk_s:
        summary["first_chunk_s"] = round(float(np.median(report.first_chunk_s)), 4)
    return summary


__all__ = [
    "Line",
    "TTSReport",
    "TTSSettings",
    "load_voice",
    "manifest_entry",
    "read_lines",
    "run_tts",
]
