"""The offline demo on the embedded speech sample: codecs, `prepare` and `bench`."""

from __future__ import annotations

import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from audiotok.audio import load_audio, resample, save_audio
from audiotok.tokenizers import get_tokenizer
from audiotok.tokenizers.registry import resolve_config

if TYPE_CHECKING:
    from pipelines.bench.job import BenchReport

DEFAULT_DEMO_SPECS = (
    "opus@6kbps",
    "opus@24kbps",
    "mp3@32kbps",
    "aac@32kbps",
    "amrnb@12.2kbps",
    "g722",
    "mulaw",
    "codec2@3200",
    "codec2@700",
)


def sample_path() -> Path:
    """The embedded English speech sample (7.8 s, 16 kHz, espeak-ng)."""
    return Path(str(resources.files("audiotok") / "assets" / "sample_en.flac"))


@dataclass(frozen=True)
class DemoRow:
    """One codec's result on the sample; ``skipped`` holds the reason when it could not run."""

    spec: str
    nominal_kbps: float
    measured_kbps: float | None = None
    snr_db: float | None = None
    encode_seconds: float | None = None
    decode_seconds: float | None = None
    tokens_path: Path | None = None
    audio_path: Path | None = None
    skipped: str | None = None


def run_demo(out_dir: str | Path, specs: tuple[str, ...] = DEFAULT_DEMO_SPECS) -> list[DemoRow]:
    """Encode and decode the sample with each spec; write tokens and reconstructions.

    Files: ``OUT/original.wav``, ``OUT/<spec>.npz`` (tokens), ``OUT/<spec>.wav`` (decoded).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    audio = load_audio(sample_path(), mono=True)
    save_audio(out / "original.wav", audio.mono, audio.sample_rate)
    return [_run_one(spec, audio.mono, audio.sample_rate, out) for spec in specs]


def _run_one(spec: str, wave: np.ndarray, sample_rate: int, out: Path) -> DemoRow:
    family, config = resolve_config(spec)
    nominal = config.nominal_bitrate / 1000
    reason = family.cls.availability()
    if reason is not None:
        return DemoRow(spec, nominal, skipped=reason)
    tokenizer = get_tokenizer(spec)
    start = time.perf_counter()
    tokens = tokenizer.encode_one(wave, sample_rate)
    encoded = time.perf_counter()
    decoded = tokenizer.decode([tokens])[0].numpy()
    finished = time.perf_counter()
    name = spec.replace("@", "_")
    reference = resample(wave, sample_rate, tokenizer.sample_rate)
    return DemoRow(
        spec,
        nominal,
        measured_kbps=tokens.bitrate / 1000,
        snr_db=snr_db(reference, decoded),
        encode_seconds=encoded - start,
        decode_seconds=finished - encoded,
        tokens_path=tokens.save(out / f"{name}.npz"),
        audio_path=save_audio(out / f"{name}.wav", decoded, tokenizer.sample_rate),
    )


def snr_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Plain signal-to-noise ratio of ``estimate`` against ``reference`` (equal lengths)."""
    n = min(len(reference), len(estimate))
    noise = np.sum((reference[:n] - estimate[:n]) ** 2)
    return float(10 * np.log10(np.sum(reference[:n] ** 2) / max(noise, 1e-12)))


def run_prepare_demo(out_dir: str | Path) -> tuple[Path, dict[str, object]]:
    """`data_prep.prepare` on the embedded sample, offline: Silero VAD, quality filter,
    Opus 12 kbps and mu-law tokens, Resemblyzer speaker embedding, no ASR (so no Whisper
    model is needed), plain loop (no Ray start-up for one file). Returns the shard folder and
    the manifest."""
    from data_prep import PrepareConfig, prepare

    shards = Path(out_dir) / "prepared"
    config = PrepareConfig.from_dict(
        {
            "asr": {"enabled": False},
            "tokenize": {"specs": ["opus@12kbps", "mulaw"]},
            "shards": {"audio_flac": True},
        }
    )
    report = prepare([sample_path()], shards, config, use_ray=False, progress=False)
    return shards, report.manifest


def run_bench_demo(out_dir: str | Path) -> BenchReport:
    """`audiotok bench` on the embedded sample, offline: the default classic codec set and
    every default metric (UTMOS reports itself unavailable), plain loop (no Ray start-up for one
    utterance). Returns the `BenchReport` (``report_html`` is the listening page)."""
    from pipelines.bench.config import BenchConfig
    from pipelines.bench.job import run_bench

    return run_bench([sample_path()], Path(out_dir) / "bench", BenchConfig(), use_ray=False)
