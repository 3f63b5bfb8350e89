"""The ``audiotok prepare`` job: config from file and flags, then `data_prep.prepare`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from audiotok.requirements import Check, problems_of, report_lines
from data_prep import PrepareConfig, prepare
from data_prep.preflight import prepare_checks


def build_config(
    config_path: str | Path | None = None,
    *,
    tokenizers: str | None = None,
    asr: str | None = None,
    language: str | None = None,
    require_text: bool = False,
    speaker_encoder: str | None = None,
    workers: int | None = None,
) -> PrepareConfig:
    """A `PrepareConfig` from a YAML/JSON file (or the defaults) with command-line overrides."""
    config = PrepareConfig.load(config_path) if config_path else PrepareConfig()
    if tokenizers is not None:
        specs = tuple(s.strip() for s in tokenizers.split(",") if s.strip())
        config.tokenize.specs = () if specs in ((), ("none",)) else specs
        config.tokenize.enabled = bool(config.tokenize.specs)
    if asr is not None:
        config.asr.backend = asr
        config.asr.enabled = asr != "none"
    if language is not None:
        config.discover.language = language
    if require_text:
        config.asr.require_text = True
    if speaker_encoder is not None:
        config.speaker.encoder = speaker_encoder
        config.speaker.enabled = speaker_encoder != "none"
    if workers is not None:
        config.ray.workers = workers
    return config


def prepare_command(
    inputs: Sequence[str],
    out: Path,
    *,
    config_path: Path | None = None,
    tokenizers: str | None = None,
    asr: str | None = None,
    language: str | None = None,
    require_text: bool = False,
    speaker_encoder: str | None = None,
    ray_address: str | None = None,
    workers: int | None = None,
    use_ray: bool | None = None,
    limit: int | None = None,
    check_only: bool = False,
) -> int:
    config = build_config(
        config_path,
        tokenizers=tokenizers,
        asr=asr,
        language=language,
        require_text=require_text,
        speaker_encoder=speaker_encoder,
        workers=workers,
    )
    if check_only:
        return print_checks("prepare", prepare_checks(config))
    report = prepare(
        inputs, out, config, use_ray=use_ray, ray_address=ray_address, workers=workers, limit=limit
    )
    print(summary_line(report.manifest, out))
    return 0 if report.manifest["files"]["kept"] or not report.files_total else 1


def summary_line(manifest: dict, out: Path) -> str:
    files, hours = manifest["files"], manifest["hours"]
    retention = manifest["retention"]["overall"]
    kept = f"{retention:.1%}" if retention is not None else "n/a"
    return (
        f"{files['in']} file(s): {files['kept']} kept, {files['dropped']} fully dropped, "
        f"{files['failed']} failed; {manifest['segments']['kept']} segment(s), "
        f"{_duration(hours['out'])} of {_duration(hours['in'])} of audio kept ({kept}); "
        f"shards in {out / 'shards'}; manifest.json, errors.jsonl, dropped.jsonl in {out}"
    )


def _duration(hours: float) -> str:
    if hours >= 1:
        return f"{hours:.2f} h"
    return f"{hours * 60:.1f} min" if hours * 60 >= 1 else f"{hours * 3600:.1f} s"


def print_checks(job: str, checks: list[Check]) -> int:
    """``--check``: every component's state on stdout; 0 when all can run, else 2."""
    for line in report_lines(job, checks):
        print(line)
    return 2 if problems_of(checks) else 0
