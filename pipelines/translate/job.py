"""``audiotok translate``: speech files in one language to speech files in another.

For every input file (found by `prepare`'s discovery) the job cuts the speech at pauses
(`segments`), translates the segments of all files in batches through one `Translator`
(in process, or on Ray actors with ``workers > 1``), and reassembles each file's translations
into ``OUT/<relative path>.wav`` (`assemble`: ``concat`` or ``dub``) with subtitles of the
target text on the output's timeline (``.srt``, ``.vtt``) and of the source text on the
source's (``.source.srt``, ``.source.vtt``).

Outputs in ``OUT``: ``manifest.jsonl`` (one object per translated file, in input order; see
`manifest_entry`), ``errors.jsonl`` (``path``, ``reason``, ``detail`` per file that was not
translated: unreadable, no speech, every segment failed) and ``summary.json``.

Resume: a file's WAV and subtitles are written atomically before its manifest line is
appended and fsynced; a rerun skips every file whose entry has the same settings key and whose
WAV exists, and redoes the rest. Segment seeds are a function of the run's seed, the file and
the segment index, so a rerun after a kill gives the outputs of one clean run.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from audiotok.atomic import atomic_write_text
from audiotok.audio import audio_info
from audiotok.errors import AudioLoadError
from audiotok.vad import get_vad
from audiotok.vad.silero import SAMPLE_RATE, SileroVAD
from data_prep.config import DiscoverConfig
from data_prep.discover import Source, discover
from models.s2st.translator import SegmentInput, SegmentOutput, TranslatorOptions, build_translator
from pipelines.translate.assemble import OUTPUTS, TrackWriter
from pipelines.translate.runners import LocalRunner, RayRunner, Runner
from pipelines.translate.segments import FilePlan, PlanConfig, plan_file, read_cut
from pipelines.translate.subtitles import Cue, to_srt, to_vtt

MANIFEST = "manifest.jsonl"
ERRORS = "errors.jsonl"
SUMMARY = "summary.json"


@dataclass(frozen=True)
class TranslateSettings:
    """Everything the job is told (see `key` for what decides whether an output is reused)."""

    options: TranslatorOptions
    backend: str = "cascade"
    output: str = "concat"
    plan: PlanConfig = field(default_factory=PlanConfig)
    batch_size: int = 8
    workers: int = 1
    ray_address: str | None = None

    def __post_init__(self) -> None:
        if self.output not in OUTPUTS:
            raise ValueError(f"--output must be one of {', '.join(OUTPUTS)}, not {self.output!r}")
        if self.workers < 1 or self.batch_size < 1:
            raise ValueError("--workers and the batch size must be at least 1")

    def key(self) -> str:
        """A hash of what changes outputs: backend, models, languages, voice, seed, output
        layout and cutting; not workers, threads, device or batch size."""
        options = asdict(self.options)
        for ignored in ("device", "threads"):
            options.pop(ignored)
        payload = {
            "backend": self.backend,
            "options": options,
            "output": self.output,
            "plan": asdict(self.plan),
        }
        return hashlib.sha1(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class TranslateReport:
    """What `run_translate` did."""

    translated: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    audio_s: float = 0.0
    output_s: float = 0.0
    wall_s: float = 0.0
    load_s: float = 0.0
    stage_s: dict[str, float] = field(default_factory=dict)
    translator: dict[str, Any] = field(default_factory=dict)

    @property
    def no_speech(self) -> list[str]:
        return [row["path"] for row in self.failed if row["reason"] == "no_speech"]


@dataclass
class _File:
    """One input on its way through the job."""

    source: Source
    relative: str  # the output WAV, relative to OUT
    index: int  # position in the input order
    plan: FilePlan | None = None
    writer: TrackWriter | None = None
    sent: int = 0  # segments handed to the translator
    received: int = 0
    failure: tuple[str, str] | None = None  # a read error after some segments were sent
    finished: bool = False

    @property
    def id(self) -> str:
        return self.relative[: -len(".wav")]


def run_translate(
    inputs: Sequence[str | Path],
    out: Path,
    settings: TranslateSettings,
    *,
    progress: bool = True,
    runner: Runner | None = None,
) -> TranslateReport:
    """Translate every input into ``out`` (see the module docstring).

    ``runner`` replaces the translator the settings would build (tests, benchmarks); the
    translator is built only when some file needs translating.
    """
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    _remove_partials(out)
    report = TranslateReport()
    key = settings.key()
    previous = _read_manifest(out / MANIFEST)
    entries: dict[str, dict[str, Any]] = {}
    todo: list[_File] = []
    files = list(_files(inputs, settings, report))
    for file in files:
        stored = previous.get(file.relative)
        if _reusable(stored, file, key, out):
            entries[file.relative] = stored  # type: ignore[assignment]
            report.skipped.append(file.source.path)
        else:
            todo.append(file)
    if todo:
        _translate_files(todo, out, settings, key, report, entries, progress, runner)
    order = {f.relative: f.index for f in files}
    ordered = sorted(entries.values(), key=lambda e: order.get(e["path"], len(order)))
    atomic_write_text(
        out / MANIFEST, "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in ordered)
    )
    atomic_write_text(
        out / ERRORS, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in report.failed)
    )
    report.wall_s = time.perf_counter() - started
    atomic_write_text(out / SUMMARY, json.dumps(summary(report, settings), indent=2) + "\n")
    return report


def _files(
    inputs: Sequence[str | Path], settings: TranslateSettings, report: TranslateReport
) -> Iterator[_File]:
    """The inputs as files to translate; discovery errors and output-name clashes reported."""
    language = None if settings.options.source == "auto" else settings.options.source
    taken: dict[str, str] = {}
    for index, source in enumerate(discover(inputs, DiscoverConfig(language=language))):
        if source.error is not None:
            report.failed.append(_row(source.path, *source.error))
            continue
        relative = Path(source.relative).with_suffix(".wav").as_posix()
        if relative in taken:
            detail = f"its output {relative} is already {taken[relative]}'s"
            report.failed.append(_row(source.path, "output_collision", detail))
            continue
        taken[relative] = source.path
        yield _File(source, relative, index)


def _reusable(stored: dict[str, Any] | None, file: _File, key: str, out: Path) -> bool:
    return bool(
        stored
        and stored.get("settings") == key
        and stored.get("source") == file.source.path
        and (out / file.relative).is_file()
    )


def _translate_files(
    files: list[_File],
    out: Path,
    settings: TranslateSettings,
    key: str,
    report: TranslateReport,
    entries: dict[str, dict[str, Any]],
    progress: bool,
    runner: Runner | None,
) -> None:
    vad = get_vad("silero")
    assert isinstance(vad, SileroVAD)  # the registry's "silero" is this class
    total = sum(_duration(f.source.path) for f in files)
    bar = tqdm(
        total=round(total, 1),
        unit="s",
        desc="translate",
        disable=not progress,
        bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} audio s [{elapsed}<{remaining}]{postfix}",
    )
    done = [0]
    bar.set_postfix_str(f"files 0/{len(files)}")
    loading = time.perf_counter()
    own = runner is None
    with _ray_if(settings):
        runner = runner or _make_runner(settings)
        report.load_s = time.perf_counter() - loading
        report.translator = runner.info.description
        try:
            batches = _batches(_segments(files, vad, settings, report, bar), settings.batch_size)
            with (out / MANIFEST).open("a", encoding="utf-8") as manifest:
                for batch, outputs in runner.run(batches):
                    for (file, index), output in zip(batch, outputs, strict=True):
                        _receive(file, index, output, out, runner, settings, report)
                        bar.update(file.plan.cuts[index].duration if file.plan else 0.0)
                        if _finished(file):
                            _finish(file, out, key, settings, report, entries, manifest, runner)
                            done[0] += 1
                            bar.set_postfix_str(f"files {done[0]}/{len(files)}")
                # a file whose read failed after all its sent segments had come back
                for file in files:
                    if file.failure is not None and file.sent and not file.finished:
                        _finish(file, out, key, settings, report, entries, manifest, runner)
        finally:
            if own:
                runner.close()
            bar.close()


def _make_runner(settings: TranslateSettings) -> Runner:
    if settings.workers > 1 or settings.ray_address:
        return RayRunner(settings.backend, settings.options, settings.workers)
    return LocalRunner(build_translator(settings.backend, settings.options))


class _ray_if:
    """A Ray session around the job when it runs on Ray."""

    def __init__(self, settings: TranslateSettings) -> None:
        self.settings = settings
        self._session: Any = None

    def __enter__(self) -> None:
        if self.settings.workers > 1 or self.settings.ray_address:
            from audiotok.units import ray_session

            self._session = ray_session(self.settings.workers, self.settings.ray_address)
            self._session.__enter__()

    def __exit__(self, *exc: object) -> None:
        if self._session is not None:
            self._session.__exit__(*exc)


def _duration(path: str) -> float:
    try:
        return float(audio_info(path).duration or 0.0)
    except (AudioLoadError, ValueError, OSError):
        return 0.0


def _segments(
    files: list[_File],
    vad: SileroVAD,
    settings: TranslateSettings,
    report: TranslateReport,
    bar: Any,
) -> Iterator[tuple[tuple[_File, int], SegmentInput]]:
    """Every segment of every file, read when needed; files without speech or unreadable
    are reported here and never reach the translator."""
    for file in files:
        path = file.source.path
        try:
            file.plan = plan_file(path, vad, settings.plan)
        except (AudioLoadError, ValueError, OSError) as exc:
            report.failed.append(_row(path, *_load_failure(exc)))
            continue
        if not file.plan.cuts:
            detail = f"the VAD found no speech in {file.plan.duration_s:.1f} s"
            report.failed.append(_row(path, "no_speech", detail))
            bar.update(file.plan.duration_s)
            continue
        bar.update(file.plan.duration_s - sum(c.duration for c in file.plan.cuts))
        for index, cut in enumerate(file.plan.cuts):
            try:
                wave = read_cut(path, cut)
            except (AudioLoadError, ValueError, OSError) as exc:
                file.failure = _load_failure(exc)
                break
            file.sent += 1
            yield (
                (file, index),
                SegmentInput(
                    id=f"{file.id}-{index:05d}",
                    wave=wave,
                    sample_rate=SAMPLE_RATE,
                    source_language=file.source.language,
                    seed=_seed(settings.options.seed, file.id, index),
                    speaker=file.source.speaker or file.id,
                ),
            )
        if file.failure is not None and file.sent == 0:
            report.failed.append(_row(path, *file.failure))


def _batches(
    segments: Iterable[tuple[tuple[_File, int], SegmentInput]], size: int
) -> Iterator[tuple[list[tuple[_File, int]], list[SegmentInput]]]:
    tags: list[tuple[_File, int]] = []
    batch: list[SegmentInput] = []
    for tag, segment in segments:
        tags.append(tag)
        batch.append(segment)
        if len(batch) == size:
            yield tags, batch
            tags, batch = [], []
    if batch:
        yield tags, batch


def _receive(
    file: _File,
    index: int,
    output: SegmentOutput,
    out: Path,
    runner: Runner,
    settings: TranslateSettings,
    report: TranslateReport,
) -> None:
    file.received += 1
    for stage, seconds in output.stage_s.items():
        report.stage_s[stage] = report.stage_s.get(stage, 0.0) + seconds
    if file.writer is None and file.plan is not None:
        file.writer = TrackWriter(
            _partial(out, file.relative), file.plan, runner.info.sample_rate, settings.output
        )
    if file.writer is not None:
        file.writer.add(index, output)


def _finished(file: _File) -> bool:
    if file.finished:
        return False
    if file.failure is not None:
        return file.received == file.sent
    return file.writer is not None and file.writer.done


def _finish(
    file: _File,
    out: Path,
    key: str,
    settings: TranslateSettings,
    report: TranslateReport,
    entries: dict[str, dict[str, Any]],
    manifest: Any,
    runner: Runner,
) -> None:
    """Close the file's track; publish it (WAV, subtitles, manifest line) or report it."""
    file.finished = True
    writer, plan, path = file.writer, file.plan, file.source.path
    assert writer is not None and plan is not None  # a finished file has both
    partial = _partial(out, file.relative)
    failed_segments = [p.error for p in writer.placed if p.error]
    if file.failure is not None or len(failed_segments) == len(writer.placed):
        writer.abort()
        partial.unlink(missing_ok=True)
        reason, detail = file.failure or _all_failed(failed_segments)
        report.failed.append(_row(path, reason, detail))
        return
    output_s = writer.close()
    target = out / file.relative
    _write_subtitles(target, writer)
    os.replace(partial, target)
    entry = manifest_entry(file, writer, output_s, settings, runner, key)
    manifest.write(json.dumps(entry, ensure_ascii=False) + "\n")
    manifest.flush()
    os.fsync(manifest.fileno())
    entries[file.relative] = entry
    report.translated.append(path)
    report.audio_s += plan.duration_s
    report.output_s += output_s


def manifest_entry(
    file: _File,
    writer: TrackWriter,
    output_s: float,
    settings: TranslateSettings,
    runner: Runner,
    key: str,
) -> dict[str, Any]:
    """One translated file: the manifest fields the issue fixes, then the run's facts."""
    spoken = [p for p in writer.placed if p.error is None]
    options = settings.options
    languages = Counter(writer.languages)
    source_language = (
        options.source
        if options.source != "auto"
        else (languages.most_common(1)[0][0] if languages else None)
    )
    return {
        "source": file.source.path,
        "id": file.id,
        "path": file.relative,
        "source_language": source_language,
        "target_language": options.target,
        "source_text": " ".join(p.source_text for p in spoken if p.source_text),
        "target_text": " ".join(p.target_text for p in spoken if p.target_text),
        "duration_s": round(writer.plan.duration_s, 4),
        "output_duration_s": round(output_s, 4),
        "segments": [p.to_dict() for p in writer.placed],
        "sample_rate": runner.info.sample_rate,
        "backend": settings.backend,
        "output": settings.output,
        "voice_preserving": runner.info.voice_preserving,
        "random_weights": options.random_weights,
        "settings": key,
    }


def _write_subtitles(target: Path, writer: TrackWriter) -> None:
    spoken = [p for p in writer.placed if p.error is None]
    translated = [Cue(p.out_start, p.out_end, p.target_text) for p in spoken]
    heard = [Cue(p.start, p.end, p.source_text) for p in spoken]
    for suffix, cues in ((".srt", translated), (".source.srt", heard)):
        atomic_write_text(target.with_suffix(suffix), to_srt(cues))
    for suffix, cues in ((".vtt", translated), (".source.vtt", heard)):
        atomic_write_text(target.with_suffix(suffix), to_vtt(cues))


def _all_failed(reasons: list[str]) -> tuple[str, str]:
    reason, count = Counter(reasons).most_common(1)[0]
    if reason == "empty_transcript":
        return "no_speech", f"the ASR heard no words in any of its {count} segments"
    return reason, f"every segment failed ({dict(Counter(reasons))})"


def _load_failure(exc: Exception) -> tuple[str, str]:
    if isinstance(exc, AudioLoadError):
        return exc.reason, exc.detail
    return "unreadable", str(exc)


def _row(path: str, reason: str, detail: str) -> dict[str, str]:
    return {"path": path, "reason": reason, "detail": detail}


def _seed(seed: int, file_id: str, index: int) -> int:
    digest = hashlib.sha1(f"{seed}:{file_id}:{index}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def _partial(out: Path, relative: str) -> Path:
    target = out / relative
    return target.with_name(f".{target.name}.partial.wav")


def _remove_partials(out: Path) -> None:
    """Tracks a killed run left half written."""
    for leftover in out.rglob(".*.partial.wav"):
        leftover.unlink(missing_ok=True)


def _read_manifest(path: Path) -> dict[str, dict[str, Any]]:
    entries: dict[str, dict[str, Any]] = {}
    if not path.is_file():
        return entries
    for raw in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(raw)
        except json.JSONDecodeError:
            continue  # the torn last line of a killed run
        if isinstance(entry, dict) and isinstance(entry.get("path"), str):
            entries[entry["path"]] = entry
    return entries


def summary(report: TranslateReport, settings: TranslateSettings) -> dict[str, Any]:
    """``summary.json``: counts, speed, the cost of each stage and what the models were."""
    busy = max(report.wall_s - report.load_s, 1e-9)
    return {
        "files_translated": len(report.translated),
        "files_skipped": len(report.skipped),
        "files_failed": len(report.failed),
        "files_without_speech": len(report.no_speech),
        "audio_s": round(report.audio_s, 3),
        "output_s": round(report.output_s, 3),
        "wall_s": round(report.wall_s, 3),
        "load_s": round(report.load_s, 3),
        "x_real_time": round(report.audio_s / busy, 4) if report.translated else None,
        "files_per_s": round(len(report.translated) / busy, 4) if report.translated else None,
        "stage_s": {k: round(v, 3) for k, v in sorted(report.stage_s.items())},
        "translator": report.translator,
        "random_weights": settings.options.random_weights,
        "settings": {
            "key": settings.key(),
            "backend": settings.backend,
            "output": settings.output,
            "workers": settings.workers,
            "batch_size": settings.batch_size,
            "plan": asdict(settings.plan),
            "options": asdict(settings.options),
        },
    }
