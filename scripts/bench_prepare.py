"""Corpus preparation throughput: the plain loop against Ray Data at 1 and 2 workers.

Runs `data_prep.prepare` on the same FSDD recordings three times (fresh output folders):

1. the plain single-process loop (``use_ray=False``, torch on one thread): the reference;
2. Ray Data with one actor per model stage (``ray.init(num_cpus=1)``);
3. Ray Data with two (``num_cpus=2``).

``--modes local,ray-1f,ray-2f`` runs the fused variant (all stages in one actor pool).

Prints files/s and audio hours per hour per core for each, then the Ray overhead at one worker
(reference rate / Ray-1 rate) and the speed-up at two workers (Ray-2 rate / Ray-1 rate, and /
reference). Wall times include Ray's start-up and the actors' model loading, as a user sees
them. ASR is off by default (``--asr`` turns on faster-whisper tiny.en).

    .venv/bin/python scripts/bench_prepare.py --files 600 --tokenizer opus@12kbps
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from data_prep import PrepareConfig, prepare  # noqa: E402


def fsdd(count: int) -> list[Path]:
    shared = Path(os.environ.get("AUDIOTOK_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
    folder = shared / "real" / "fsdd" / "recordings"
    if not folder.is_dir():
        sys.exit(f"FSDD recordings not found at {folder} (set AUDIOTOK_SHARED_DATA)")
    names = sorted(os.listdir(folder))
    step = max(1, len(names) // count)
    return [folder / name for name in names[::step][:count]]


def config(tokenizer: str, asr: bool, speaker: bool) -> PrepareConfig:
    return PrepareConfig.from_dict(
        {
            "decode": {"loudness_lufs": -23.0},
            "segment": {"min_seconds": 0.2},
            "asr": {"enabled": asr},
            "tokenize": {"specs": [tokenizer]},
            "speaker": {"enabled": speaker},
            "shards": {"max_rows": 500},
            "ray": {"batch_files": 16},
        }
    )


def run(mode: str, files: list[Path], cfg: PrepareConfig, out: Path) -> dict[str, float]:
    import torch

    torch.set_num_threads(1)
    workers = 1 if mode == "local" else int(mode.split("-")[1].rstrip("f"))
    cfg.ray.fuse_stages = mode.endswith("f")
    start = time.perf_counter()
    report = prepare(files, out, cfg, use_ray=mode != "local", workers=workers, progress=False)
    wall = time.perf_counter() - start
    seconds = report.manifest["seconds"]["in"]
    first = report.manifest["runs"][-1]["first_result_seconds"] or 0.0
    return {
        "startup": first,
        "steady_files_per_s": (len(files) - 1) / max(wall - first, 1e-9),
        "cores": workers,
        "wall": wall,
        "files_per_s": len(files) / wall,
        "audio_h_per_h_per_core": seconds / wall / workers,
        "segments": report.manifest["segments"]["kept"],
        "retention": report.manifest["retention"]["overall"] or 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=600)
    parser.add_argument("--tokenizer", default="opus@12kbps")
    parser.add_argument("--asr", action="store_true", help="faster-whisper tiny.en on")
    parser.add_argument("--no-speaker", action="store_true")
    parser.add_argument(
        "--modes",
        default="local,ray-1,ray-2",
        help="local, ray-N (one actor pool per model stage), ray-Nf (all stages fused in one pool)",
    )
    args = parser.parse_args()
    files = fsdd(args.files)
    cfg = config(args.tokenizer, args.asr, not args.no_speaker)
    print(
        f"{len(files)} FSDD files, tokenizer {args.tokenizer}, ASR {'on' if args.asr else 'off'},"
        f" speaker {'off' if args.no_speaker else 'on'}; {os.cpu_count()} CPUs visible, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for mode in args.modes.split(","):
            results[mode] = run(mode, files, cfg, Path(tmp) / mode)
            r = results[mode]
            print(
                f"{mode:<6} cores {r['cores']:.0f}  wall {r['wall']:7.1f} s  "
                f"{r['files_per_s']:6.2f} files/s  "
                f"{r['audio_h_per_h_per_core']:7.1f} audio h/h/core  "
                f"(start-up {r['startup']:5.1f} s, then {r['steady_files_per_s']:6.2f} files/s)  "
                f"segments {r['segments']:.0f}  retention {r['retention']:.1%}",
                flush=True,
            )
    if {"local", "ray-1"} <= results.keys():
        overhead = results["local"]["files_per_s"] / results["ray-1"]["files_per_s"]
        print(f"Ray overhead at 1 worker: {overhead:.2f}x the plain loop's time", end="")
        steady = results["local"]["steady_files_per_s"] / results["ray-1"]["steady_files_per_s"]
        print(f" ({steady:.2f}x after start-up)")
    if {"ray-1", "ray-2"} <= results.keys():
        speedup = results["ray-2"]["files_per_s"] / results["ray-1"]["files_per_s"]
        print(f"speed-up at 2 workers: {speedup:.2f}x Ray at 1 worker", end="")
        if "local" in results:
            vs_local = results["ray-2"]["files_per_s"] / results["local"]["files_per_s"]
            print(f", {vs_local:.2f}x the plain loop", end="")
        steady = results["ray-2"]["steady_files_per_s"] / results["ray-1"]["steady_files_per_s"]
        print(f" ({steady:.2f}x Ray at 1 worker after start-up)")


if __name__ == "__main__":
    main()
