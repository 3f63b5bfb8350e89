"""Checkpoints: ``step_XXXXXXXX/`` folders with safetensors weights, JSON config and vocab.

Layout of one checkpoint::

    step_00000120/
        model.safetensors   model weights and buffers (EMA codebook included)
        config.json         SemanticTokenizerConfig
        vocab.json          character vocabulary of the CTC head
        trainer.json        step, epoch, metrics at save time
        train_state.pt      optimizer + scheduler + RNG state (loads with weights_only=True)

Folders are written under a temporary name and renamed, so a crash never leaves a half
checkpoint that ``latest_checkpoint`` would pick.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from models.semantic_tokenizer.config import SemanticTokenizerConfig
from models.semantic_tokenizer.model import SemanticTokenizer
from models.semantic_tokenizer.vocab import CharVocab

PREFIX = "step_"


@dataclass
class TrainerState:
    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0


def save_checkpoint(
    directory: str | Path,
    model: SemanticTokenizer,
    vocab: CharVocab,
    state: TrainerState,
    *,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    metrics: dict[str, Any] | None = None,
    keep: int | None = 3,
) -> Path:
    """Write ``directory/step_{state.step:08d}`` and prune to the ``keep`` latest."""
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"{PREFIX}{state.step:08d}"
    tmp = root / f".tmp-{final.name}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(tensors, str(tmp / "model.safetensors"), metadata={"format": "pt"})
    model.config.save(tmp / "config.json")
    vocab.save(tmp / "vocab.json")
    trainer = {
        "step": state.step,
        "epoch": state.epoch,
        "batch_in_epoch": state.batch_in_epoch,
        "metrics": metrics or {},
    }
    (tmp / "trainer.json").write_text(json.dumps(trainer, indent=2) + "\n")
    train_state: dict[str, Any] = {"torch_rng": torch.get_rng_state()}
    if optimizer is not None:
        train_state["optimizer"] = optimizer.state_dict()
    if scheduler is not None:
        train_state["scheduler"] = scheduler.state_dict()
    torch.save(train_state, tmp / "train_state.pt")
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    if keep is not None:
        for old in list_checkpoints(root)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    return final


def list_checkpoints(directory: str | Path) -> list[Path]:
    """Complete checkpoints under ``directory``, oldest first."""
    root = Path(directory)
    if not root.is_dir():
        return []
    found = [
        p
        for p in root.iterdir()
        if p.is_dir()
        and p.name.startswith(PREFIX)
        and (p / "model.safetensors").is_file()
        and (p / "trainer.json").is_file()
    ]
    return sorted(found, key=lambda p: int(p.name[len(PREFIX) :]))


def latest_checkpoint(directory: str | Path) -> Path | None:
    found = list_checkpoints(directory)
    return found[-1] if found else None


def load_model(
    path: str | Path, map_location: str | torch.device = "cpu"
) -> tuple[SemanticTokenizer, CharVocab]:
    """A trained tokenizer and its vocabulary from a checkpoint folder."""
    path = Path(path)
    config = SemanticTokenizerConfig.load(path / "config.json")
    model = SemanticTokenizer(config)
    model.load_state_dict(load_file(str(path / "model.safetensors"), device=str(map_location)))
    return model, CharVocab.load(path / "vocab.json")


def load_training_state(
    path: str | Path,
    model: SemanticTokenizer,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
) -> TrainerState:
    """Restore weights, optimizer, scheduler and RNG from a checkpoint; returns its state."""
    path = Path(path)
    device = next(model.parameters()).device
    model.load_state_dict(load_file(str(path / "model.safetensors"), device=str(device)))
    saved = torch.load(path / "train_state.pt", map_location=device, weights_only=True)
    if optimizer is not None and "optimizer" in saved:
        optimizer.load_state_dict(saved["optimizer"])
    if scheduler is not None and "scheduler" in saved:
        scheduler.load_state_dict(saved["scheduler"])
    if "torch_rng" in saved:
        torch.set_rng_state(saved["torch_rng"].cpu())
    trainer = json.loads((path / "trainer.json").read_text())
    return TrainerState(
        step=int(trainer["step"]),
        epoch=int(trainer["epoch"]),
        batch_in_epoch=int(trainer.get("batch_in_epoch", 0)),
    )
