"""`prepare`: discover -> decode -> segment -> filter -> ASR -> tokenize -> speaker -> shards.

Two executors run the same stage code (`data_prep.stages`) on the same file rows:

- Ray Data (two workers or more, or a cluster): files are grouped into units of work
  (`work_units`) that travel as pickled blobs (``{"unit": bytes}``, one per block and per
  call) so that their nested, variable-shaped contents need no Arrow schema; pure stages
  run as tasks, model stages as actor pools of ``workers`` actors each (``num_gpus`` when
  the cluster has GPUs), all of them fused into one pool when there is no GPU. The last
  operation hands back finished shard results; the driver consumes the stream with
  ``iter_batches`` and feeds the `ShardWriter`.
- a plain loop (one worker, or ``use_ray=False``): this process runs the same units through
  the same `StageChain` in turn, paying no cluster start-up.

Before either, `check_prepare` makes sure every enabled stage can run here.

Either way only the driver writes, a source's rows stay together, and sources that committed
shards already complete are skipped, so a rerun after a crash finishes the job.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
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
from data_prep.config import PrepareConfig
from data_prep.discover import Source, discover
from data_prep.manifest import rebuild_outputs
from data_prep.preflight import check_prepare
from data_prep.shards import ShardWriter, clean_partial, committed_sources, shard_paths
from data_prep.stages import (
    EmbedSpeakers,
    QualityFilter,
    Rows,
    Segmenter,
    Tokenize,
    Transcriber,
    asr_enabled,
    decode_rows,
    finalize,
    initial_row,
    token_column,
)

CONFIG_HASH_KEY = "audiotok.config_hash"
MODEL_STAGES = frozenset({"segment", "asr", "tokenize", "speaker"})
GPU_STAGES = frozenset({"asr", "tokenize", "speaker"})
UNITS_PER_WORKER = 4


class OutputConfigMismatchError(AudiotokError, ValueError):
    """The output folder holds shards made with another config."""


@dataclass
class PrepareReport:
    out_dir: Path
    manifest: dict[str, Any]
    files_total: int
    files_skipped: int
    files_processed: int
    wall_seconds: float
    shards_written: list[Path] = field(default_factory=list)


def stage_names(config: PrepareConfig) -> list[str]:
    """The stages this config runs, in order (decode, segment and filter always run; the ASR
    stage also runs without a model when ``asr.require_text`` asks for text)."""
    names = ["decode", "segment", "filter"]
    if asr_enabled(config.asr) or config.asr.require_text:
        names.append("asr")
    if config.tokenize.enabled and config.tokenize.specs:
        names.append("tokenize")
    if config.speaker.enabled and config.speaker.encoder != "none":
        names.append("speaker")
    return names


def token_columns(config: PrepareConfig) -> list[str]:
    if not (config.tokenize.enabled and config.tokenize.specs):
        return []
    return [token_column(spec) for spec in config.tokenize.specs]


def make_stage(
    name: str, config: PrepareConfig, device: str | None = None
) -> Callable[[Rows], Rows]:
    if name == "decode":
        return functools.partial(decode_rows, config=config.decode)
    if name == "segment":
        return Segmenter(config.segment)
    if name == "filter":
        return QualityFilter(config.filter, config.segment)
    if name == "asr":
        return Transcriber(config.asr)
    if name == "tokenize":
        return Tokenize(config.tokenize, device=device)
    if name == "speaker":
        return EmbedSpeakers(config.speaker)
    raise ValueError(f"unknown stage {name!r}")


def prepare(
    inputs: Sequence[str | Path],
    out_dir: str | Path,
    config: PrepareConfig | None = None,
    *,
    use_ray: bool | None = None,
    ray_address: str | None = None,
    workers: int | None = None,
    progress: bool = True,
    limit: int | None = None,
) -> PrepareReport:
    """Prepare a corpus into ``out_dir`` (shards, manifest, errors, drops); resumable.

    Args:
        inputs: directories, globs, manifests, Kaldi folders, audio files (see `discover`).
        config: the stages' settings (defaults: `PrepareConfig()`).
        use_ray: True: Ray Data streaming (``ray.init()`` locally, or ``ray_address``);
            False: the plain single-process loop; None (default): Ray when there are two
            workers or more, a cluster address, or a Ray instance this process already
            joined, else the same per-unit code in this process (`audiotok.units.use_ray_for`).
        workers: actors per model stage and local Ray CPUs (default ``config.ray.workers``,
            else every CPU this process may use).
        limit: process at most this many (not yet committed) files.

    Raises:
        ConfigurationError: an enabled stage cannot run here (before any file is read).
    """
    config = config or PrepareConfig()
    check_prepare(config)
    workers = workers or config.ray.workers or available_cpus()
    use_ray = use_ray_for(workers, ray_address) if use_ray is None else use_ray
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    clean_partial(out)
    digest = config.hash()
    _check_config(out, digest)
    started = time.time()
    sources = discover(inputs, config.discover)
    done = committed_sources(out)
    todo = [s for s in sources if s.source_id not in done]
    if limit is not None:
        todo = todo[:limit]
    writer = ShardWriter(
        out,
        token_columns=token_columns(config),
        audio_flac=config.shards.audio_flac,
        max_rows=config.shards.max_rows,
        max_bytes=config.shards.max_bytes,
        metadata={CONFIG_HASH_KEY: digest},
    )
    bar = tqdm(total=len(todo), unit="file", disable=not progress, desc="prepare", smoothing=0.1)
    audio_seconds = 0.0
    first_result: float | None = None
    with writer:
        results = (
            _run_ray(todo, config, workers, ray_address)
            if use_ray and todo
            else _run_local(todo, config)
        )
        for result in results:
            writer.add(result)
            if first_result is None:
                first_result = time.time() - started
            audio_seconds += result["duration"]
            advance(bar)
            elapsed = max(time.time() - started, 1e-9)
            bar.set_postfix_str(
                f"{bar.n / elapsed:.1f} files/s, {audio_seconds / 3600 / elapsed * 3600:.3f} "
                "audio h/h",
                refresh=False,
            )
    bar.close()
    wall = time.time() - started
    run = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)),
        "mode": "ray" if use_ray else "local",
        "workers": workers if use_ray else 1,
        "files_processed": len(todo),
        "files_skipped": len(sources) - len(todo),
        "audio_seconds_processed": audio_seconds,
        "wall_seconds": wall,
        # Start-up (discovery, Ray, model loading) until the first file came out.
        "first_result_seconds": first_result,
        "files_per_second": len(todo) / wall if wall > 0 else None,
        "audio_hours_per_second": audio_seconds / 3600 / wall if wall > 0 else None,
    }
    manifest = rebuild_outputs(
        out,
        config=config.to_dict(),
        config_hash=digest,
        inputs=[str(i) for i in inputs],
        run=run,
    )
    return PrepareReport(
        out, manifest, len(sources), len(sources) - len(todo), len(todo), wall, writer.committed
    )


def _check_config(out: Path, digest: str) -> None:
    shards = shard_paths(out)
    if not shards:
        return
    metadata = pq.read_metadata(shards[0]).metadata or {}
    previous = metadata.get(CONFIG_HASH_KEY.encode(), b"").decode()
    if previous and previous != digest:
        raise OutputConfigMismatchError(
            f"{out} holds shards prepared with another config (hash {previous[:12]}, now "
            f"{digest[:12]}); use a new --out folder or the same config to resume"
        )


def work_units(sources: Sequence[Source], max_files: int, max_bytes: int) -> list[list[Source]]:
    """Consecutive sources grouped into units of work: at most ``max_files`` files and, unless
    one file alone is larger, ``max_bytes`` bytes on disk, so a unit of short clips amortises
    the per-batch cost while a unit of long recordings stays small in memory."""
    units: list[list[Source]] = []
    unit: list[Source] = []
    size = 0
    for source in sources:
        nbytes = _file_bytes(source.path)
        if unit and (len(unit) >= max_files or size + nbytes > max_bytes):
            units.append(unit)
            unit, size = [], 0
        unit.append(source)
        size += nbytes
    if unit:
        units.append(unit)
    return units


def _file_bytes(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0  # decode records the failure


def _units(todo: Sequence[Source], config: PrepareConfig, workers: int = 1) -> list[list[Source]]:
    # At least UNITS_PER_WORKER units per worker, so that a small job still spreads out.
    balanced = -(-len(todo) // (UNITS_PER_WORKER * workers)) if workers > 1 else len(todo)
    max_files = max(1, min(config.ray.batch_files, balanced))
    return work_units(todo, max_files, int(config.ray.batch_megabytes * 1024 * 1024))


class StageChain:
    """Stages run in turn on one unit of file rows: every stage of the job (the plain loop and
    the fused Ray actor) or one of them (a per-stage Ray pool). With ``finalize`` the rows
    leave as shard results (`finalize`), so no waveform travels further."""

    def __init__(
        self, names: Sequence[str], config: PrepareConfig, device: str | None, finalize: bool
    ) -> None:
        self.stages = [make_stage(name, config, device) for name in names]
        self.audio_flac = config.shards.audio_flac if finalize else None

    def __call__(self, rows: Rows) -> list[Any]:
        for stage in self.stages:
            rows = stage(rows)
        if self.audio_flac is None:
            return rows
        return [finalize(row, self.audio_flac) for row in rows]


def _run_local(todo: Sequence[Source], config: PrepareConfig) -> Iterator[dict[str, Any]]:
    if not todo:
        return
    chain = StageChain(stage_names(config), config, "cuda" if _cuda() else None, finalize=True)
    for unit in _units(todo, config):
        yield from chain([initial_row(source) for source in unit])


def _cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


# --- Ray -------------------------------------------------------------------------------------


class RayStage:
    """A `StageChain` (``name`` "a" or "a+b+c", the fused mode) inside a Ray actor (model
    stages) or task: unpack, run, pack."""

    def __init__(
        self,
        name: str,
        config: dict[str, Any],
        threads: int = 1,
        device: str | None = None,
        finalize: bool = False,
    ):
        import torch

        torch.set_num_threads(max(1, threads))
        prepared = PrepareConfig.from_dict(config)
        self.chain = StageChain(name.split("+"), prepared, device, finalize)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return pack_units([self.chain(rows) for rows in unpack_units(batch)])


def _ray_task(
    batch: dict[str, np.ndarray], name: str, config: dict[str, Any], finalize: bool
) -> dict[str, np.ndarray]:
    return RayStage(name, config, finalize=finalize)(batch)


def _run_ray(
    todo: Sequence[Source], config: PrepareConfig, workers: int, address: str | None
) -> Iterator[dict[str, Any]]:
    with ray_session(workers, address):
        yield from _stream(todo, config, workers)


def _stream(
    todo: Sequence[Source], config: PrepareConfig, workers: int
) -> Iterator[dict[str, Any]]:
    import ray

    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.execution_options.preserve_order = False
    names = stage_names(config)
    share = 1.0 / len(names)
    gpus = float(ray.cluster_resources().get("GPU", 0.0))
    config_dict = config.to_dict()
    units = [[initial_row(source) for source in unit] for unit in _units(todo, config, workers)]
    # One unit per block and per call: Ray's per-batch cost is paid once per unit.
    items = unit_items(units)
    ds: Any = ray.data.from_items(items, override_num_blocks=max(1, len(items)))
    fuse = config.ray.fuse_stages if config.ray.fuse_stages is not None else gpus == 0
    if fuse:
        # One actor pool running every stage: one process per worker, models loaded once per
        # worker, no hand-over between stages (better where cores are few).
        names, share = ["+".join(names)], 1.0
    for index, name in enumerate(names):
        last = index == len(names) - 1
        if MODEL_STAGES & set(name.split("+")):
            use_gpu = gpus > 0 and bool(GPU_STAGES & set(name.split("+")))
            ds = ds.map_batches(
                RayStage,
                fn_constructor_kwargs={
                    "name": name,
                    "config": config_dict,
                    "device": "cuda" if use_gpu else None,
                    "finalize": last,
                },
                batch_size=1,
                batch_format="numpy",
                compute=ray.data.ActorPoolStrategy(size=workers),
                num_cpus=share,
                num_gpus=config.ray.gpus_per_actor if use_gpu else 0,
            )
        else:
            ds = ds.map_batches(
                _ray_task,
                fn_kwargs={"name": name, "config": config_dict, "finalize": last},
                batch_size=1,
                batch_format="numpy",
                num_cpus=share,
            )
    for out in ds.iter_batches(batch_size=None, batch_format="numpy", prefetch_batches=1):
        for results in unpack_units(out):
            yield from results
