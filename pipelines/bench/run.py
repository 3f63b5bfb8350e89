"""`run_bench`: every (utterance, tokenizer) pair scored, resumably, in Ray or a plain loop.

Pairs are grouped by utterance, so the reference-side values (F0 track, speaker embedding, ASR
transcript of the original) are computed once per utterance, and consecutive utterances into
units of work of about `PAIRS_PER_UNIT` pairs; each unit is one Ray Data row handled by an
actor pool of `Evaluator` s (tokenizers and metric models loaded once per actor, GPUs when
present). Only the driver writes ``results.jsonl``, a unit's rows at a time.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from audiotok.errors import AudiotokError
from audiotok.progress import advance
from audiotok.units import (
    available_cpus,
    pack_units,
    ray_session,
    unit_items,
    unpack_units,
    use_ray_for,
)
from pipelines.bench.config import BenchConfig
from pipelines.bench.data import Utterance, find_utterances
from pipelines.bench.evaluate import Evaluator, Row
from pipelines.bench.results import RESULTS_NAME, ResultsWriter, read_results, rewrite_results

# (utterance, the specs still to score, whether it is a report example)
Task = tuple[Utterance, list[str], bool]
Unit = list[Task]  # consecutive utterances: one Ray Data row, one call of an actor
PAIRS_PER_UNIT = 32  # amortises Ray's per-call cost over short utterances
UNITS_PER_WORKER = 4  # so that a small run still spreads over every worker


class NoUtterancesError(AudiotokError, ValueError):
    """The benchmark inputs hold no audio."""


@dataclass
class PairsRun:
    rows: list[Row]
    pairs_scored: int
    pairs_reused: int
    utterances: list[Utterance]
    wall_seconds: float
    workers: int
    device: str
    used_ray: bool


def score_pairs(
    inputs: Sequence[str | Path],
    out_dir: str | Path,
    config: BenchConfig,
    *,
    use_ray: bool | None = None,
    ray_address: str | None = None,
    progress: bool = True,
) -> PairsRun:
    """Score every pair not already in ``out_dir/results.jsonl``; return all current rows.
    ``use_ray=None`` runs Ray with two workers or more or a cluster, else the plain loop."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    utterances = find_utterances(inputs, config.limit)
    if not utterances:
        raise NoUtterancesError(f"no audio found in {', '.join(str(i) for i in inputs)}")
    kept = _reusable(read_results(out / RESULTS_NAME), utterances, config)
    done = {(row["utterance"], row["tokenizer"]) for row in kept}
    tasks = _tasks(utterances, config, done)
    todo = sum(len(specs) for _, specs, _ in tasks)
    device = config.device or ("cuda" if torch.cuda.is_available() else "cpu")
    workers = config.workers or _default_workers(device)
    use_ray = use_ray_for(workers, ray_address) if use_ray is None else use_ray
    units = _units(tasks, workers if use_ray else 1)
    started = time.perf_counter()
    new: list[Row] = []
    bar = tqdm(total=todo, unit="pair", disable=not progress, desc="bench")
    with ResultsWriter(out / RESULTS_NAME) as writer:
        stream = (
            _run_ray(units, config, out, workers, device, ray_address)
            if use_ray and units
            else _run_local(units, config, out, device)
        )
        for rows in stream:
            writer.write(rows)
            new.extend(rows)
            advance(bar, len(rows))
    bar.close()
    wall = time.perf_counter() - started
    rows = _ordered(kept + new, config)
    rewrite_results(out / RESULTS_NAME, rows)
    return PairsRun(
        rows, len(new), len(kept), utterances, wall, workers if use_ray else 1, device, use_ray
    )


def _reusable(rows: list[Row], utterances: list[Utterance], config: BenchConfig) -> list[Row]:
    """Rows of this run's pairs made with the same settings (the last one of each pair)."""
    wanted = {u.id for u in utterances}
    settings = {spec: config.pair_settings(spec) for spec in config.tokenizers}
    latest: dict[tuple[str, str], Row] = {}
    for row in rows:
        spec = row["tokenizer"]
        if row["utterance"] in wanted and settings.get(spec) == row.get("settings"):
            latest[(row["utterance"], spec)] = row
    return list(latest.values())


def _tasks(
    utterances: list[Utterance], config: BenchConfig, done: set[tuple[str, str]]
) -> list[Task]:
    tasks = []
    for index, utterance in enumerate(utterances):
        specs = [s for s in config.tokenizers if (utterance.id, s) not in done]
        if specs:
            tasks.append((utterance, specs, index < config.examples))
    return tasks


def _units(tasks: list[Task], workers: int) -> list[Unit]:
    """Consecutive tasks grouped up to `PAIRS_PER_UNIT` pairs (one utterance at least), but
    into `UNITS_PER_WORKER` units per worker at least."""
    balanced = -(-len(tasks) // (UNITS_PER_WORKER * workers))
    units: list[Unit] = []
    unit: Unit = []
    pairs = 0
    for task in tasks:
        if unit and (pairs + len(task[1]) > PAIRS_PER_UNIT or len(unit) >= balanced):
            units.append(unit)
            unit, pairs = [], 0
        unit.append(task)
        pairs += len(task[1])
    if unit:
        units.append(unit)
    return units


def _ordered(rows: list[Row], config: BenchConfig) -> list[Row]:
    order = {spec: i for i, spec in enumerate(config.tokenizers)}
    return sorted(rows, key=lambda r: (order.get(r["tokenizer"], len(order)), r["utterance"]))


def _default_workers(device: str) -> int:
    if device.startswith("cuda"):
        return max(1, torch.cuda.device_count())
    return available_cpus()


# ---- executors ------------------------------------------------------------------------------


def _run_local(
    units: list[Unit], config: BenchConfig, out: Path, device: str
) -> Iterator[list[Row]]:
    if not units:
        return
    evaluator = Evaluator(config, out, device)
    for unit in units:
        yield evaluator.evaluate_all(unit)


class BenchActor:
    """An `Evaluator` inside a Ray actor: units in, result rows out."""

    def __init__(self, config: dict[str, Any], out_dir: str, device: str, threads: int = 1):
        torch.set_num_threads(max(1, threads))
        self.evaluator = Evaluator(BenchConfig.from_dict(config), out_dir, device)

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        return pack_units([self.evaluator.evaluate_all(unit) for unit in unpack_units(batch)])


def _run_ray(
    units: list[Unit],
    config: BenchConfig,
    out: Path,
    workers: int,
    device: str,
    address: str | None,
) -> Iterator[list[Row]]:
    import ray

    with ray_session(workers, address):
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        context.execution_options.preserve_order = False
        on_gpu = device.startswith("cuda")
        ds: Any = ray.data.from_items(unit_items(units), override_num_blocks=len(units))
        ds = ds.map_batches(
            BenchActor,
            fn_constructor_kwargs={
                "config": config.to_dict(),
                "out_dir": str(out),
                "device": device,
            },
            batch_size=1,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=workers),
            num_cpus=0 if on_gpu else 1,
            num_gpus=1 if on_gpu else 0,
        )
        for batch in ds.iter_batches(batch_size=None, batch_format="numpy", prefetch_batches=1):
            yield from unpack_units(batch)
