"""The run's ``manifest.json``, ``errors.jsonl`` and ``dropped.jsonl``, rebuilt from all shards.

They are recomputed from the shards' footers and sidecars after every run, so they describe the
whole output folder, however many resumed runs produced it. ``runs`` keeps each run's
throughput.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from audiotok.atomic import atomic_write_text
from data_prep.shards import (
    _jsonl,
    committed_sources,
    read_sidecar,
    shard_paths,
    sidecar_paths,
)
from data_prep.stages import STAGES


def rebuild_outputs(
    out_dir: str | Path,
    *,
    config: dict[str, Any],
    config_hash: str,
    inputs: list[str],
    run: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write ``manifest.json``, ``errors.jsonl`` and ``dropped.jsonl``; return the manifest."""
    out = Path(out_dir)
    sources = committed_sources(out)
    errors: list[dict[str, Any]] = []
    dropped: list[dict[str, Any]] = []
    for shard in shard_paths(out):
        errors_path, dropped_path = sidecar_paths(shard)
        errors += read_sidecar(errors_path)
        dropped += read_sidecar(dropped_path)
    manifest = summarize(sources, errors, dropped)
    previous = out / "manifest.json"
    runs = []
    if previous.is_file():
        try:
            runs = list(json.loads(previous.read_text(encoding="utf-8")).get("runs", []))
        except (json.JSONDecodeError, AttributeError):
            runs = []
    if run is not None:
        runs.append(run)
    manifest = {
        "config_hash": config_hash,
        "config": config,
        "inputs": inputs,
        **manifest,
        "throughput": _throughput(run),
        "shards": [p.name for p in shard_paths(out)],
        "runs": runs,
    }
    atomic_write_text(out / "errors.jsonl", _jsonl(errors))
    atomic_write_text(out / "dropped.jsonl", _jsonl(dropped))
    atomic_write_text(out / "manifest.json", json.dumps(manifest, indent=2) + "\n")
    return manifest


def _throughput(run: dict[str, Any] | None) -> dict[str, Any] | None:
    if not run:
        return None
    keys = ("files_per_second", "audio_hours_per_second", "wall_seconds", "mode", "workers")
    return {k: run.get(k) for k in keys}


def summarize(
    sources: dict[str, dict[str, Any]],
    errors: list[dict[str, Any]],
    dropped: list[dict[str, Any]],
) -> dict[str, Any]:
    """Counts, hours, retention per stage and the histogram of drop and error reasons.

    Seconds add up: ``seconds.in == seconds.kept + seconds.dropped + seconds.failed`` (a failed
    file counts its probed duration, 0 when it could not be probed).
    """
    status_count: dict[str, int] = defaultdict(int)
    for info in sources.values():
        status_count[info["status"]] += 1
    seconds_in = sum(float(i["duration"]) for i in sources.values())
    kept = sum(float(i["kept_seconds"]) for i in sources.values())
    drop_seconds = sum(float(d["seconds"]) for d in dropped)
    error_seconds = sum(float(e.get("seconds") or 0.0) for e in errors)
    reasons: dict[str, dict[str, float]] = defaultdict(lambda: {"count": 0, "seconds": 0.0})
    for record in dropped:
        entry = reasons[f"{record['stage']}/{record['reason']}"]
        entry["count"] += 1
        entry["seconds"] += float(record["seconds"])
    error_reasons: dict[str, int] = defaultdict(int)
    for record in errors:
        error_reasons[f"{record['stage']}/{record['reason']}"] += 1
    lost_by_stage: dict[str, float] = defaultdict(float)
    for record in dropped:
        lost_by_stage[record["stage"]] += float(record["seconds"])
    for record in errors:
        lost_by_stage[record["stage"]] += float(record.get("seconds") or 0.0)
    retention = {}
    entering = seconds_in
    for stage in STAGES:
        lost = lost_by_stage.get(stage, 0.0)
        retention[stage] = None if entering <= 0 else round((entering - lost) / entering, 6)
        entering -= lost
    segments_dropped = sum(1 for d in dropped if d["segment"] is not None)
    return {
        "files": {
            "in": len(sources),
            "kept": status_count["kept"],
            "dropped": status_count["dropped"],
            "failed": status_count["error"],
        },
        "segments": {
            "kept": sum(int(i["segments"]) for i in sources.values()),
            "dropped": segments_dropped,
        },
        "seconds": {
            "in": seconds_in,
            "kept": kept,
            "dropped": drop_seconds,
            "failed": error_seconds,
        },
        "hours": {"in": seconds_in / 3600, "out": kept / 3600},
        "retention": {
            "overall": None if seconds_in <= 0 else round(kept / seconds_in, 6),
            "per_stage": retention,
        },
        "drop_reasons": {k: dict(v) for k, v in sorted(reasons.items())},
        "error_reasons": dict(sorted(error_reasons.items())),
    }
