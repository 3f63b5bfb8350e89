"""The debug recipe: FSDD digits + espeak-ng multilingual speech, CPU training, digit probe.

Data (from the shared data folder, never copied into the repository):

- FSDD recordings ``{digit}_{speaker}_{take}.wav`` with the digit word as transcript; speaker
  ``theo`` is held out entirely (test speaker of the probe); takes >= ``dev_take`` of the other
  five speakers form the FSDD part of the dev split.
- Synthetic speech made with ``espeak-ng`` from Tatoeba sentences (English, French, Spanish,
  German; several voice variants and speaking rates), cached as WAV under ``cache_dir``.

After training, a logistic-regression probe on frozen tokens (bag of codes + mean code embedding)
is trained on the five training speakers' digits and tested on ``theo``.
"""

from __future__ import annotations

import hashlib
import random
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from models.semantic_tokenizer.checkpoint import load_model
from models.semantic_tokenizer.data import Record, SpeechTextDataset, write_manifest
from models.semantic_tokenizer.probe import (
    extract_tokens,
    logistic_regression_accuracy,
    token_features,
)
from models.semantic_tokenizer.train import TrainConfig, TrainResult, evaluate, train_local
from models.semantic_tokenizer.train import train_with_ray as _train_with_ray

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
HELD_OUT_SPEAKER = "theo"
# (Tatoeba file, language code, espeak voices)
SYNTH_LANGUAGES = (
    ("tatoeba.fra-eng.eng", "en", ("en-us", "en-gb", "en-gb-x-rp")),
    ("tatoeba.fra-eng.fra", "fr", ("fr",)),
    ("tatoeba.spa-eng.spa", "es", ("es",)),
    ("tatoeba.deu-eng.deu", "de", ("de",)),
)
VARIANTS = ("", "+m1", "+m3", "+m7", "+f1", "+f2", "+f4", "+klatt")


@dataclass
class DebugRecipeConfig:
    shared_data: str
    cache_dir: str
    output_dir: str
    sentences_per_language: int = 80
    max_sentence_chars: int = 60
    dev_take: int = 45
    synth_dev_fraction: float = 0.1
    max_seconds: float = 240.0
    max_steps: int = 1200
    backend: str = "local"  # or "ray"
    num_threads: int = 1
    seed: int = 0
    fresh: bool = True
    train_overrides: dict[str, Any] = field(default_factory=dict)


@dataclass
class DebugRecipeResult:
    loss_first: float
    loss_last: float
    dev_cer: float
    utilisation: float
    perplexity: float
    num_codes: int
    theo_cer: float
    probe_accuracy: float
    chance: float
    steps: int
    train_seconds: float
    wall_seconds: float
    train: TrainResult

    def summary(self) -> str:
        return "\n".join(
            [
                f"steps trained          : {self.steps} in {self.train_seconds:.0f} s",
                f"loss first -> last     : {self.loss_first:.3f} -> {self.loss_last:.3f}"
                " (step 1 -> mean of the last 4 logged windows)",
                f"dev CER (greedy CTC)   : {self.dev_cer:.3f}",
                f"held-out theo CER      : {self.theo_cer:.3f}",
                f"codebook utilisation   : {self.utilisation:.3f} of {self.num_codes} codes",
                f"code perplexity        : {self.perplexity:.1f}",
                f"theo digit accuracy    : {self.probe_accuracy:.3f} (chance {self.chance:.2f})",
                f"wall time              : {self.wall_seconds:.0f} s",
            ]
        )


def fsdd_records(shared_data: Path) -> list[tuple[Record, int, int]]:
    """``(record, digit, take)`` for every FSDD recording."""
    folder = (shared_data / "real" / "fsdd" / "recordings").resolve()
    if not folder.is_dir():
        raise FileNotFoundError(f"FSDD recordings not found under {folder}")
    out = []
    for path in sorted(folder.glob("*.wav")):
        digit, speaker, take = path.stem.split("_")
        record = Record(
            text=DIGIT_WORDS[int(digit)], path=str(path), speaker=speaker, language="en"
        )
        out.append((record, int(digit), int(take)))
    return out


def _pick_sentences(path: Path, count: int, max_chars: int, rng: random.Random) -> list[str]:
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    lines = [line for line in lines if 8 <= len(line) <= max_chars]
    rng.shuffle(lines)
    return lines[:count]


def synthesize(text: str, voice: str, speed: int, out: Path) -> None:
    """espeak-ng ``voice`` at ``speed`` words/minute -> ``out`` (22.05 kHz WAV), atomically."""
    tmp = out.with_suffix(".tmp.wav")
    subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(tmp), text],
        check=True,
        capture_output=True,
    )
    tmp.replace(out)


def synthetic_records(config: DebugRecipeConfig) -> list[Record]:
    """Synthetic multilingual utterances, generated once into ``cache_dir/espeak``."""
    if shutil.which("espeak-ng") is None:
        raise RuntimeError("espeak-ng is not installed (apt-get install espeak-ng)")
    rng = random.Random(config.seed)
    folder = Path(config.cache_dir).resolve() / "espeak"
    folder.mkdir(parents=True, exist_ok=True)
    tatoeba = Path(config.shared_data) / "text" / "tatoeba"
    jobs: list[tuple[str, str, int, Path]] = []
    records: list[Record] = []
    for file_name, language, voices in SYNTH_LANGUAGES:
        sentences = _pick_sentences(
            tatoeba / file_name, config.sentences_per_language, config.max_sentence_chars, rng
        )
        for sentence in sentences:
            voice = rng.choice(voices) + rng.choice(VARIANTS)
            speed = rng.randint(130, 180)
            key = hashlib.sha1(f"{voice}|{speed}|{sentence}".encode()).hexdigest()[:16]
            out = folder / f"{language}_{key}.wav"
            if not out.exists():
                jobs.append((sentence, voice, speed, out))
            records.append(
                Record(text=sentence, path=str(out), speaker=f"espeak:{voice}", language=language)
            )
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda job: synthesize(*job), jobs))
    return records


def build_debug_data(config: DebugRecipeConfig) -> dict[str, Path]:
    """Write ``train.tsv``, ``dev.tsv``, ``probe_train.tsv``, ``probe_test.tsv`` manifests."""
    shared = Path(config.shared_data)
    rng = random.Random(config.seed + 1)
    fsdd = fsdd_records(shared)
    train = [r for r, _, take in fsdd if r.speaker != HELD_OUT_SPEAKER and take < config.dev_take]
    dev = [r for r, _, take in fsdd if r.speaker != HELD_OUT_SPEAKER and take >= config.dev_take]
    synth = synthetic_records(config)
    rng.shuffle(synth)
    n_dev = round(len(synth) * config.synth_dev_fraction)
    dev += synth[:n_dev]
    train += synth[n_dev:]
    probe_train = [r for r, _, _ in fsdd if r.speaker != HELD_OUT_SPEAKER]
    probe_test = [r for r, _, _ in fsdd if r.speaker == HELD_OUT_SPEAKER]
    folder = Path(config.cache_dir) / "manifests"
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, records in {
        "train": train,
        "dev": dev,
        "probe_train": probe_train,
        "probe_test": probe_test,
    }.items():
        paths[name] = folder / f"{name}.tsv"
        write_manifest(paths[name], records)
    return paths


def run_debug_recipe(config: DebugRecipeConfig) -> DebugRecipeResult:
    """Build the data, train the ``debug`` preset, evaluate and probe; returns the figures."""
    started = time.monotonic()
    torch.set_num_threads(config.num_threads)
    manifests = build_debug_data(config)
    output = Path(config.output_dir)
    if config.fresh and output.exists():
        shutil.rmtree(output)
    settings: dict[str, Any] = {
        "train_sources": [str(manifests["train"])],
        "dev_sources": [str(manifests["dev"])],
        "output_dir": str(output),
        "model": "debug",
        "max_steps": config.max_steps,
        "max_seconds": config.max_seconds,
        "lr": 2e-3,
        "warmup_steps": 60,
        "max_frames": 6000,
        "max_batch_size": 64,
        "log_every": 25,
        "eval_every": 300,
        "checkpoint_every": 300,
        "num_threads": config.num_threads,
        "seed": config.seed,
    }
    settings.update(config.train_overrides)
    train_config = TrainConfig(**settings)
    train_started = time.monotonic()
    trainer = _train_with_ray if config.backend == "ray" else train_local
    result = trainer(train_config)
    train_seconds = time.monotonic() - train_started
    if result.checkpoint is None:
        raise RuntimeError(f"training wrote no checkpoint under {output}")

    model, vocab = load_model(result.checkpoint)
    model.eval()
    final_eval = result.eval_records[-1]
    probe_train = SpeechTextDataset.from_sources([manifests["probe_train"]], vocab=vocab)
    probe_test = SpeechTextDataset.from_sources([manifests["probe_test"]], vocab=vocab)

    from models.semantic_tokenizer.data import LengthBucketSampler, collate

    theo_batches = LengthBucketSampler(probe_test.durations(), 6000, shuffle=False).batches()
    theo_eval = evaluate(model, (collate([probe_test[i] for i in b]) for b in theo_batches), vocab)
    labels = {word: i for i, word in enumerate(DIGIT_WORDS)}
    train_x = token_features(model, extract_tokens(model, probe_train))
    test_x = token_features(model, extract_tokens(model, probe_test))
    train_y = torch.tensor([labels[r.text] for r in probe_train.records])
    test_y = torch.tensor([labels[r.text] for r in probe_test.records])
    accuracy = logistic_regression_accuracy(
        train_x, train_y, test_x, test_y, num_classes=len(DIGIT_WORDS), seed=config.seed
    )
    train_records = result.train_records
    return DebugRecipeResult(
        loss_first=float(train_records[0]["loss"]),
        loss_last=sum(float(r["loss"]) for r in train_records[-4:]) / len(train_records[-4:]),
        dev_cer=float(final_eval["cer"]),
        utilisation=float(final_eval["utilisation"]),
        perplexity=float(final_eval["perplexity"]),
        num_codes=model.num_codes,
        theo_cer=float(theo_eval["cer"]),
        probe_accuracy=accuracy,
        chance=1.0 / len(DIGIT_WORDS),
        steps=result.step,
        train_seconds=train_seconds,
        wall_seconds=time.monotonic() - started,
        train=result,
    )
