"""`audiotok bench` throughput: (utterance, tokenizer) pairs per second, plain loop vs Ray.

Runs `pipelines.bench.job.run_bench` on the same FSDD recordings (short utterances, so the
per-pair cost of scheduling shows) with the default classic codec set, in several modes, each in
its own process pinned to as many cores as it has workers (fresh output folders):

- ``local``: the plain loop in one process (torch on one thread), the reference;
- ``one``: `run_bench`'s default path at one worker (no address): in process, no cluster;
- ``ray-1`` / ``ray-2``: Ray Data with 1 or 2 `BenchActor` s (``ray.init(num_cpus=N)``).

Starting the local Ray instance (with Ray Data's per-cluster service actors) is timed apart:
on a cluster it is already running. With ``--repeats N`` the modes run N times, interleaved,
and medians are compared. The default metrics are the signal and perceptual ones; ``--metrics``
takes any set (the model-based ones cost far more per pair).

    .venv/bin/python scripts/bench_bench.py --files 100 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "scripts"))

from benchlib import fsdd_files, run_interleaved, run_pinned, start_local_ray  # noqa: E402

SIGNAL_METRICS = "si_sdr,mel_distance,stft_distance,pesq_wb,pesq_nb,stoi,estoi,mcd"


def workers_of(mode: str) -> int:
    return 1 if mode in ("local", "one") else int(mode.split("-")[1])


def use_ray_of(mode: str) -> bool | None:
    return None if mode == "one" else mode.startswith("ray-")  # "one": run_bench's own choice


def child(mode: str, files: int, metrics: str, out: Path) -> dict[str, float]:
    import torch

    from pipelines.bench.config import BenchConfig
    from pipelines.bench.job import run_bench

    torch.set_num_threads(1)
    workers = workers_of(mode)
    ray_start = start_local_ray(workers) if use_ray_of(mode) else 0.0
    config = BenchConfig(metrics=tuple(metrics.split(",")), examples=0, workers=workers)
    began = time.perf_counter()
    report = run_bench(fsdd_files(files), out, config, use_ray=use_ray_of(mode), progress=False)
    wall = time.perf_counter() - began
    errors = sum(row["errors"] for row in report.summary["tokenizers"])
    return {
        "cores": workers,
        "ray_init": ray_start,
        "pairs": report.pairs_scored,
        "errors": errors,
        "scoring": report.summary["run"]["scoring_seconds"],
        "wall": wall,
        "pairs_per_s": report.pairs_scored / report.summary["run"]["scoring_seconds"],
    }


def print_run(mode: str, r: dict[str, float]) -> None:
    print(
        f"{mode:<6} cores {r['cores']:.0f}  ray.init {r['ray_init']:4.1f} s  "
        f"scoring {r['scoring']:6.1f} s  {r['pairs_per_s']:6.2f} pairs/s  "
        f"(whole job with summary and report {r['wall']:6.1f} s)  pairs {r['pairs']:.0f}  "
        f"errors {r['errors']:.0f}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--metrics", default=SIGNAL_METRICS)
    parser.add_argument("--modes", default="local,one,ray-1,ray-2")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--child", nargs=2, metavar=("MODE", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, out = args.child
        print(json.dumps(child(mode, args.files, args.metrics, Path(out))))
        return
    print(
        f"{args.files} FSDD files x 8 classic codecs, metrics {args.metrics}; "
        f"{os.cpu_count()} CPUs visible, load average {os.getloadavg()[0]:.1f}"
    )
    with tempfile.TemporaryDirectory() as tmp:

        def run_one(mode: str, repeat: int) -> dict[str, float]:
            command = [sys.executable, __file__, "--files", str(args.files)]
            command += ["--metrics", args.metrics, "--child", mode, f"{tmp}/{mode}-{repeat}"]
            return run_pinned(command, workers_of(mode))

        results, _ = run_interleaved(args.modes.split(","), args.repeats, run_one, print_run)
    if {"local", "one"} <= results.keys():
        ratio = results["local"]["pairs_per_s"] / results["one"]["pairs_per_s"]
        print(f"1-worker path (in process): {ratio:.2f}x the plain loop's time")
    if {"one", "ray-2"} <= results.keys():
        speedup = results["ray-2"]["pairs_per_s"] / results["one"]["pairs_per_s"]
        print(f"2-worker Ray path: {speedup:.2f}x the 1-worker path's speed")
    if {"local", "ray-1"} <= results.keys():
        ratio = results["local"]["pairs_per_s"] / results["ray-1"]["pairs_per_s"]
        print(f"Ray overhead at 1 worker: {ratio:.2f}x the plain loop's time")
    if {"ray-1", "ray-2"} <= results.keys():
        speedup = results["ray-2"]["pairs_per_s"] / results["ray-1"]["pairs_per_s"]
        print(f"speed-up at 2 workers: {speedup:.2f}x Ray at 1 worker", end="")
        if "local" in results:
            print(
                f", {results['ray-2']['pairs_per_s'] / results['local']['pairs_per_s']:.2f}x "
                "the plain loop",
                end="",
            )
        print()


if __name__ == "__main__":
    main()
