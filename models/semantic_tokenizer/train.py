"""Training the semantic tokenizer: one step function, a local loop and a Ray Train launcher.

``train_local(config)`` runs the loop in this process (tests, quick experiments);
``train_with_ray(config)`` runs the very same loop in ``ray.train.torch.TorchTrainer`` workers
(``num_workers`` ranks, DDP when more than one, CUDA + bf16 autocast when ``use_gpu``).
Both write JSON-lines logs (``log.jsonl``) and checkpoints (``checkpoints/step_*``) under
``output_dir`` and resume from the latest checkpoint there, continuing the step count.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from models.semantic_tokenizer.checkpoint import (
    TrainerState,
    latest_checkpoint,
    load_training_state,
    save_checkpoint,
)
from models.semantic_tokenizer.config import SemanticTokenizerConfig, preset_config
from models.semantic_tokenizer.data import Batch, LengthBucketSampler, SpeechTextDataset, collate
from models.semantic_tokenizer.model import SemanticTokenizer, build_from_config
from models.semantic_tokenizer.vocab import (
    CharVocab,
    character_error_rate,
    ctc_greedy_decode,
    normalize_text,
)


@dataclass
class TrainConfig:
    """Everything a training run needs; JSON-serialisable so Ray workers can rebuild it.

    ``train_sources`` / ``dev_sources``: manifests (``.tsv``/``.jsonl``) and/or ``.parquet``
    shards. ``model``: a preset name or a :class:`SemanticTokenizerConfig` dict (its
    ``vocab_size`` is replaced by the vocabulary's). ``max_frames``: padded mel frames per batch
    (per worker). Training stops at ``max_steps`` (which also sets the LR schedule), after
    ``max_seconds`` of this run, or at step ``stop_after_steps`` (a job slice: the next run
    resumes from there with the same schedule).
    """

    train_sources: list[str]
    output_dir: str
    dev_sources: list[str] = field(default_factory=list)
    model: str | dict[str, Any] = "debug"
    model_overrides: dict[str, Any] = field(default_factory=dict)
    whisper_init: str | None = None
    vocab_path: str | None = None
    max_steps: int = 1000
    max_seconds: float | None = None
    stop_after_steps: int | None = None
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_steps: int = 100
    min_lr_ratio: float = 0.1
    grad_clip: float = 1.0
    max_frames: int = 12000
    max_batch_size: int = 64
    seed: int = 0
    log_every: int = 20
    eval_every: int = 200
    checkpoint_every: int = 200
    keep_checkpoints: int = 3
    cache_features: bool = True
    num_threads: int | None = None
    num_workers: int = 1
    use_gpu: bool = False
    resume: bool = True
    verbose: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        return cls(**data)

    @property
    def checkpoint_dir(self) -> Path:
        return Path(self.output_dir) / "checkpoints"

    @property
    def log_path(self) -> Path:
        return Path(self.output_dir) / "log.jsonl"


@dataclass
class TrainResult:
    """Where the run ended: last checkpoint, final step, and every logged record."""

    output_dir: Path
    checkpoint: Path | None
    step: int
    history: list[dict[str, Any]]

    @property
    def train_records(self) -> list[dict[str, Any]]:
        return [r for r in self.history if r.get("split") == "train"]

    @property
    def eval_records(self) -> list[dict[str, Any]]:
        return [r for r in self.history if r.get("split") == "dev"]


def model_config_for(config: TrainConfig, vocab: CharVocab) -> SemanticTokenizerConfig:
    overrides = dict(config.model_overrides, vocab_size=vocab.size)
    if isinstance(config.model, str):
        return preset_config(config.model, **overrides)
    return SemanticTokenizerConfig.from_dict({**config.model, **overrides})


def lr_lambda(warmup: int, total: int, min_ratio: float) -> Callable[[int], float]:
    """Linear warm-up then cosine decay to ``min_ratio`` at ``total``."""

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


def autocast_dtype_for(device: torch.device) -> torch.dtype | None:
    """bf16 on CUDA devices that support it, else no autocast."""
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return None


def train_step(
    model: nn.Module,
    batch: Batch,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    *,
    grad_clip: float | None = 1.0,
    autocast_dtype: torch.dtype | None = None,
) -> dict[str, float]:
    """One optimisation step on ``batch`` (already on the model's device); returns loss parts.

    ``model`` is a :class:`SemanticTokenizer` or a DDP wrapper around one.
    """
    model.train()
    device = batch.mels.device
    with torch.autocast(
        device_type=device.type,
        dtype=autocast_dtype or torch.float32,
        enabled=autocast_dtype is not None,
    ):
        out = model(batch.mels, batch.mel_lengths, batch.targets, batch.target_lengths)
    optimizer.zero_grad(set_to_none=True)
    out.loss.backward()
    grad_norm = (
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        if grad_clip
        else torch.tensor(0.0)
    )
    optimizer.step()
    if scheduler is not None:
        scheduler.step()
    return {
        "loss": float(out.loss.detach()),
        "ctc_loss": float(out.ctc_loss.detach()) if out.ctc_loss is not None else float("nan"),
        "quantizer_loss": float(out.quantizer_loss.detach()),
        "grad_norm": float(grad_norm),
        "lr": optimizer.param_groups[0]["lr"],
    }


def code_statistics(counts: torch.Tensor) -> dict[str, float]:
    """Utilisation (fraction of codes used) and perplexity (exp entropy) of code counts."""
    total = counts.sum().clamp(min=1)
    probs = counts.double() / total
    nonzero = probs[probs > 0]
    entropy = float(-(nonzero * nonzero.log()).sum())
    return {
        "utilisation": float((counts > 0).double().mean()),
        "perplexity": math.exp(entropy),
        "codes_used": int((counts > 0).sum()),
    }


@torch.no_grad()
def evaluate(
    model: SemanticTokenizer,
    batches: Iterable[Batch],
    vocab: CharVocab,
    *,
    autocast_dtype: torch.dtype | None = None,
    max_examples: int = 3,
) -> dict[str, Any]:
    """Dev loss, CER of greedy CTC decoding, codebook utilisation and perplexity."""
    model.eval()
    device = next(model.parameters()).device
    counts = torch.zeros(model.num_codes, dtype=torch.long)
    refs: list[str] = []
    hyps: list[str] = []
    loss_sum, chars = 0.0, 0
    for batch in batches:
        batch = batch.to(device)
        with torch.autocast(
            device_type=device.type,
            dtype=autocast_dtype or torch.float32,
            enabled=autocast_dtype is not None,
        ):
            out = model(batch.mels, batch.mel_lengths, batch.targets, batch.target_lengths)
        n_chars = int(batch.target_lengths.sum())
        if out.ctc_loss is not None:
            loss_sum += float(out.ctc_loss) * n_chars
        chars += n_chars
        codes = out.codes[out.mask].cpu()
        counts += torch.bincount(codes, minlength=model.num_codes)
        refs.extend(batch.texts)
        hyps.extend(vocab.decode(ids) for ids in ctc_greedy_decode(out.log_probs, out.lengths))
    result: dict[str, Any] = {
        "ctc_loss": loss_sum / max(1, chars),
        "cer": character_error_rate(refs, hyps) if refs else float("nan"),
        **code_statistics(counts),
        "examples": [
            {"ref": r, "hyp": h} for r, h in list(zip(refs, hyps, strict=True))[:max_examples]
        ],
    }
    return result


def _log(config: TrainConfig, record: dict[str, Any]) -> None:
    Path(config.output_dir).mkdir(parents=True, exist_ok=True)
    with config.log_path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    if config.verbose:
        shown = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in record.items()}
        shown.pop("examples", None)
        print(json.dumps(shown, ensure_ascii=False), flush=True)


def load_or_build_vocab(config: TrainConfig, train: SpeechTextDataset) -> CharVocab:
    latest = latest_checkpoint(config.checkpoint_dir) if config.resume else None
    if latest is not None:
        return CharVocab.load(latest / "vocab.json")
    if config.vocab_path:
        return CharVocab.load(config.vocab_path)
    return CharVocab.build(normalize_text(r.text) for r in train.records)


def read_history(config: TrainConfig) -> list[dict[str, Any]]:
    if not config.log_path.is_file():
        return []
    return [json.loads(line) for line in config.log_path.read_text().splitlines() if line]


def run_training(
    config: TrainConfig,
    *,
    rank: int = 0,
    world_size: int = 1,
    device: torch.device | None = None,
    wrap_model: Callable[[SemanticTokenizer], nn.Module] | None = None,
    report: Callable[[dict[str, Any]], None] | None = None,
) -> TrainResult:
    """The training loop shared by the local and Ray paths.

    ``wrap_model`` (e.g. Ray's ``prepare_model``) returns the module to train (DDP); the plain
    model is what is evaluated and saved. ``report`` is called on every rank at each evaluation
    point with that rank's latest metrics.
    """
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    device = device or torch.device("cpu")
    torch.manual_seed(config.seed + rank)
    random.seed(config.seed + rank)
    main = rank == 0

    train_set = SpeechTextDataset.from_sources(
        config.train_sources, vocab=CharVocab([]), cache_features=config.cache_features
    )
    vocab = load_or_build_vocab(config, train_set)
    train_set.vocab = vocab
    dev_set = (
        SpeechTextDataset.from_sources(
            config.dev_sources, vocab=vocab, cache_features=config.cache_features
        )
        if config.dev_sources
        else None
    )
    model = build_from_config(model_config_for(config, vocab), config.whisper_init).to(device)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay, betas=(0.9, 0.98)
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lr_lambda(config.warmup_steps, config.max_steps, config.min_lr_ratio)
    )
    state = TrainerState()
    latest = latest_checkpoint(config.checkpoint_dir) if config.resume else None
    if latest is not None:
        state = load_training_state(latest, model, optimizer, scheduler)
        if main:
            _log(config, {"split": "resume", "step": state.step, "checkpoint": str(latest)})
    trained = wrap_model(model) if wrap_model else model
    autocast_dtype = autocast_dtype_for(device)

    sampler = LengthBucketSampler(
        train_set.durations(),
        config.max_frames,
        max_batch_size=config.max_batch_size,
        seed=config.seed,
        num_replicas=world_size,
        rank=rank,
    )
    dev_batches: list[list[int]] = []
    if dev_set is not None:
        dev_sampler = LengthBucketSampler(
            dev_set.durations(),
            config.max_frames,
            max_batch_size=config.max_batch_size,
            shuffle=False,
        )
        dev_batches = dev_sampler.batches()

    def dev_iter() -> Iterable[Batch]:
        assert dev_set is not None
        for indices in dev_batches:
            yield collate([dev_set[i] for i in indices])

    def do_eval(last_train: dict[str, Any]) -> dict[str, Any]:
        metrics: dict[str, Any] = {"step": state.step}
        if main and dev_set is not None:
            metrics.update(evaluate(model, dev_iter(), vocab, autocast_dtype=autocast_dtype))
            _log(config, {"split": "dev", "time": time.time(), **metrics})
        if report is not None:
            report({**{f"train_{k}": v for k, v in last_train.items()}, **metrics})
        return metrics

    def do_save(metrics: dict[str, Any]) -> None:
        if main:
            save_checkpoint(
                config.checkpoint_dir,
                model,
                vocab,
                state,
                optimizer=optimizer,
                scheduler=scheduler,
                metrics={k: v for k, v in metrics.items() if k != "examples"},
                keep=config.keep_checkpoints,
            )

    started = time.monotonic()
    last: dict[str, Any] = {}
    window: list[dict[str, float]] = []
    last_step = min(config.max_steps, config.stop_after_steps or config.max_steps)
    stop = state.step >= last_step
    while not stop:
        sampler.set_epoch(state.epoch)
        epoch_batches = sampler.batches()
        for position in range(state.batch_in_epoch, len(epoch_batches)):
            batch = collate([train_set[i] for i in epoch_batches[position]]).to(device)
            parts = train_step(
                trained,
                batch,
                optimizer,
                scheduler,
                grad_clip=config.grad_clip,
                autocast_dtype=autocast_dtype,
            )
            state.step += 1
            state.batch_in_epoch = position + 1
            window.append(parts)
            if state.step % config.log_every == 0 or state.step == 1:
                last = {k: sum(p[k] for p in window) / len(window) for k in window[0]}
                last.update(step=state.step, epoch=state.epoch, batch_size=len(batch.texts))
                window = []
                if main:
                    elapsed = time.monotonic() - started
                    _log(
                        config, {"split": "train", "time": time.time(), "elapsed": elapsed, **last}
                    )
            out_of_time = (
                config.max_seconds is not None and time.monotonic() - started > config.max_seconds
            )
            stop = state.step >= last_step or out_of_time
            if state.step % config.eval_every == 0 and not stop:
                do_eval(last)
            if state.step % config.checkpoint_every == 0 and not stop:
                do_save(last)
            if stop:
                break
        else:
            state.epoch += 1
            state.batch_in_epoch = 0
    metrics = do_eval(last)
    do_save(metrics)
    return TrainResult(
        output_dir=Path(config.output_dir),
        checkpoint=latest_checkpoint(config.checkpoint_dir),
        step=state.step,
        history=read_history(config),
    )


def train_local(config: TrainConfig) -> TrainResult:
    """Train in this process (CUDA if ``use_gpu`` and available, else CPU)."""
    use_cuda = config.use_gpu and torch.cuda.is_available()
    return run_training(config, device=torch.device("cuda" if use_cuda else "cpu"))


def _ray_worker(loop_config: dict[str, Any]) -> None:
    import ray.train
    import ray.train.torch

    config = TrainConfig.from_dict(loop_config["config"])
    context = ray.train.get_context()
    world_size = context.get_world_size()
    device = ray.train.torch.get_device() if config.use_gpu else torch.device("cpu")

    def wrap(model: SemanticTokenizer) -> nn.Module:
        return ray.train.torch.prepare_model(model) if world_size > 1 else model

    run_training(
        config,
        rank=context.get_world_rank(),
        world_size=world_size,
        device=device,
        wrap_model=wrap,
        report=lambda metrics: ray.train.report(
            {k: v for k, v in metrics.items() if isinstance(v, int | float)}
        ),
    )


def train_with_ray(config: TrainConfig, *, cpus_per_worker: int = 1) -> TrainResult:
    """Train with ``ray.train.torch.TorchTrainer`` (``num_workers`` ranks, optional GPUs).

    Starts a local Ray instance when none is connected. ``output_dir`` must be on storage all
    workers share (rank 0 writes logs and checkpoints there).
    """
    import ray
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    output = Path(config.output_dir).resolve()
    config = TrainConfig.from_dict({**config.to_dict(), "output_dir": str(output)})
    config.train_sources = [str(Path(s).resolve()) for s in config.train_sources]
    config.dev_sources = [str(Path(s).resolve()) for s in config.dev_sources]
    started_ray = not ray.is_initialized()
    if started_ray:
        ray.init(include_dashboard=False, log_to_driver=config.verbose)
    trainer = TorchTrainer(
        _ray_worker,
        train_loop_config={"config": config.to_dict()},
        scaling_config=ScalingConfig(
            num_workers=config.num_workers,
            use_gpu=config.use_gpu,
            resources_per_worker={"CPU": cpus_per_worker},
        ),
        run_config=RunConfig(name="semantic_tokenizer", storage_path=str(output / "ray")),
    )
    try:
        trainer.fit()
    finally:
        if started_ray:
            ray.shutdown()
    return TrainResult(
        output_dir=output,
        checkpoint=latest_checkpoint(config.checkpoint_dir),
        step=_last_step(config),
        history=read_history(config),
    )


def _last_step(config: TrainConfig) -> int:
    latest = latest_checkpoint(config.checkpoint_dir)
    if latest is None:
        return 0
    return int(json.loads((latest / "trainer.json").read_text())["step"])
