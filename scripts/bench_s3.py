"""S3 tokenizer speed: ours against the reference ``s3tokenizer`` package, same machine, same run.

Both sides get the same random full-size weights (the reference model's state dict loaded into
ours), so codes can be compared: they must be identical on every input up to 30 s. Printed:
x-real-time of each side per scenario (median of ``--repeats`` runs), the ratio ours/reference,
and the share of this CPU's fp32 GEMM rate our encoder reaches on 10 s clips.

Scenarios: (a) 10 s clips at batch 1 and 8; (b) one 60 s file; (c) a mixed-length set (FSDD
digits plus the multilingual clips, from ``$AUDIOTOK_SHARED_DATA``; skipped without it).

    .venv/bin/python scripts/bench_s3.py [--variants v2,v1_50hz] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "scripts")]

from benchlib import count_flops, gemm_flops_per_second, median_seconds  # noqa: E402

from audiotok.audio import load_audio  # noqa: E402
from audiotok.tokenizers.s3 import S3Tokenizer  # noqa: E402
from audiotok.tokenizers.s3.checkpoint import (  # noqa: E402
    empty_model,
    from_reference_state_dict,
    load_into,
)
from audiotok.tokenizers.s3.config import get_config  # noqa: E402
from tests.audiotok.tokenizers.s3_reference import import_reference, reference_model  # noqa: E402

SAMPLE_RATE = 16000
Waves = list[torch.Tensor]


def shared_data() -> Path | None:
    path = Path(os.environ.get("AUDIOTOK_SHARED_DATA", REPO.parent / "shared" / "data"))
    return path if (path / "real").is_dir() else None


def speech_pool() -> torch.Tensor:
    """A long stretch of real speech: the multilingual clips, else the embedded sample."""
    data = shared_data()
    if data is None:
        paths = [REPO / "audiotok" / "assets" / "sample_en.flac"]
    else:
        paths = sorted((data / "real" / "multilingual").glob("test*.wav"))
    waves = [
        torch.from_numpy(load_audio(p, sample_rate=SAMPLE_RATE, mono=True).mono) for p in paths
    ]
    pool = torch.cat(waves)
    return pool.repeat(1 + (70 * SAMPLE_RATE) // pool.numel())  # at least 70 s


def clips(pool: torch.Tensor, seconds: float, count: int) -> Waves:
    n = int(seconds * SAMPLE_RATE)
    step = max(1, (pool.numel() - n) // max(1, count))
    return [pool[i * step : i * step + n].clone() for i in range(count)]


def mixed_set() -> Waves | None:
    data = shared_data()
    if data is None:
        return None
    digits = sorted((data / "real" / "fsdd" / "recordings").glob("*_theo_*.wav"))[:40]
    speech = sorted((data / "real" / "multilingual").glob("*.wav"))
    return [
        torch.from_numpy(load_audio(p, sample_rate=SAMPLE_RATE, mono=True).mono)
        for p in [*digits, *speech]
    ]


class Reference:
    """The reference package run as its users run it: its mel, its padding, its quantize."""

    def __init__(self, model: object) -> None:
        self.s3 = import_reference()
        self.model = model

    def encode(self, waves: Waves, batch_size: int) -> list[torch.Tensor]:
        out = []
        for start in range(0, len(waves), batch_size):
            mels = [
                self.s3.log_mel_spectrogram(w, n_mels=128)
                for w in waves[start : start + batch_size]
            ]
            mel, lengths = self.s3.padding(mels)
            codes, code_lengths = self.model.quantize(mel, lengths)
            out.extend(codes[i, : int(n)].clone() for i, n in enumerate(code_lengths))
        return out


def ours_encode(tokenizer: S3Tokenizer, waves: Waves, batch_size: int) -> list[torch.Tensor]:
    out = []
    for start in range(0, len(waves), batch_size):
        out.extend(
            t.codes[0] for t in tokenizer.encode(waves[start : start + batch_size], SAMPLE_RATE)
        )
    return out


def build_pair(variant: str) -> tuple[S3Tokenizer, Reference]:
    reference = reference_model(variant, seed=1234)
    config = get_config(variant)
    model = empty_model(config)
    load_into(model, from_reference_state_dict(reference.state_dict()), "reference")
    return S3Tokenizer(config, f"s3-{variant}", model), Reference(reference)


def agreement(a: list[torch.Tensor], b: list[torch.Tensor], waves: Waves) -> str:
    short = [(x, y) for x, y, w in zip(a, b, waves, strict=True) if w.numel() <= 30 * SAMPLE_RATE]
    if not short:
        return "n/a (all > 30 s)"
    same = sum(bool(torch.equal(x, y)) for x, y in short)
    return f"{same}/{len(short)} identical"


def run_scenario(
    name: str,
    waves: Waves,
    ours: Callable[[], list[torch.Tensor]],
    reference: Callable[[], list[torch.Tensor]],
    repeats: int,
) -> float:
    seconds = sum(w.numel() for w in waves) / SAMPLE_RATE
    ours_time = median_seconds(ours, repeats=repeats)
    ref_time = median_seconds(reference, repeats=repeats)
    codes_note = agreement(ours(), reference(), waves)
    ratio = ref_time / ours_time
    print(
        f"  {name:<26} {seconds:7.1f} s audio | reference {seconds / ref_time:6.2f}x RT | "
        f"ours {seconds / ours_time:6.2f}x RT | ours/reference {ratio:5.2f} | codes {codes_note}"
    )
    return ratio


def gemm_share(tokenizer: S3Tokenizer, waves: Waves, repeats: int, gemm_rate: float) -> float:
    mels = [tokenizer.log_mel(w) for w in waves]
    flops = count_flops(lambda: tokenizer.encode_mels(mels))
    seconds = median_seconds(lambda: tokenizer.encode_mels(mels), repeats=repeats)
    return flops / seconds / gemm_rate


def bench_variant(variant: str, pool: torch.Tensor, repeats: int, gemm_rate: float) -> None:
    tokenizer, reference = build_pair(variant)
    print(f"\n{variant}:")
    ten = clips(pool, 10.0, 8)
    for batch in (1, 8):
        run_scenario(
            f"(a) 8 x 10 s, batch {batch}",
            ten,
            lambda b=batch: ours_encode(tokenizer, ten, b),
            lambda b=batch: reference.encode(ten, b),
            repeats,
        )
    exact = ours_encode(tokenizer, ten, 8)
    tokenizer.precision = "bf16"
    run_scenario(
        "(a) bf16 fast mode, batch 8",
        ten,
        lambda: ours_encode(tokenizer, ten, 8),
        lambda: reference.encode(ten, 8),
        repeats,
    )
    fast = ours_encode(tokenizer, ten, 8)
    tokenizer.precision = "fp32"
    same = sum(int((a == b).sum()) for a, b in zip(exact, fast, strict=True))
    total = sum(a.numel() for a in exact)
    print(f"  bf16 fast mode: {100 * same / total:.1f} % of tokens equal to the exact fp32 codes")
    share = gemm_share(tokenizer, ten, repeats, gemm_rate)
    print(f"  ours on 10 s clips, batch 8, encoder only: {100 * share:.0f} % of the GEMM rate")
    sixty = clips(pool, 60.0, 1)
    run_scenario(
        "(b) one 60 s file",
        sixty,
        lambda: ours_encode(tokenizer, sixty, 1),
        lambda: reference.encode(sixty, 1),
        repeats,
    )
    mixed = mixed_set()
    if mixed is None:
        print("  (c) mixed set: skipped (no shared data; set AUDIOTOK_SHARED_DATA)")
        return
    run_scenario(
        f"(c) mixed set, {len(mixed)} files",
        mixed,
        lambda: ours_encode(tokenizer, mixed, len(mixed)),  # ours buckets by length itself
        lambda: reference.encode(mixed, 8),  # the reference's CLI: batches in file order
        repeats,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default="v2,v1_50hz")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    gemm_rate = gemm_flops_per_second()
    print(
        f"torch {torch.__version__}, {args.threads} thread(s), "
        f"fp32 GEMM rate {gemm_rate / 1e9:.0f} GFLOP/s"
    )
    pool = speech_pool()
    for variant in args.variants.split(","):
        bench_variant(variant.strip(), pool, args.repeats, gemm_rate)


if __name__ == "__main__":
    main()
