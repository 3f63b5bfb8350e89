"""Corpus preparation throughput: the plain loop, the 1-worker path and Ray Data.

Runs `data_prep.prepare` on the same FSDD recordings in each mode (fresh output folders):

- ``local``: the plain single-process loop (``use_ray=False``, torch on one thread), the
  reference;
- ``one``: `prepare`'s default path at ``workers=1`` (no address): the same per-unit code in
  process, no cluster;
- ``ray-1f`` / ``ray-2f``: Ray Data with all stages fused in one pool of 1 or 2 actors
  (``ray.init(num_cpus=N)``), the default layout without GPUs;
- ``ray-1`` / ``ray-2``: one actor pool per model stage (the GPU layout).

With ``--repeats N`` the modes run N times, interleaved, and medians are compared.

Each mode runs in its own process pinned (CPU affinity, inherited by Ray's raylet and workers)
to as many cores as it has workers, so "1 worker" really has one core. Prints files/s and audio
hours per hour per core for each, then the Ray overhead at one worker (reference rate / Ray-1
rate) and the speed-up at two workers (Ray-2 rate / Ray-1 rate, and / reference). The job's
wall time includes the actors' start-up and model loading; starting the local Ray instance
itself (``ray.init`` and Ray Data's per-cluster service actors: statistics, autoscaling, actor
locations, which on a cluster are already running) is timed and printed apart, and the
overhead is also given with it included. With repeats, the ratios are also given per round (the
modes of a round ran back to back). The stages are `prepare`'s defaults, ASR (faster-whisper
tiny.en) included; ``--no-asr`` leaves it out, a much lighter job per file in which Ray's fixed
cost per job weighs more.

    .venv/bin/python scripts/bench_prepare.py --files 600 --repeats 3
    .venv/bin/python scripts/bench_prepare.py --files 3000 --no-asr --modes local,ray-1f,ray-2f
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

from benchlib import (  # noqa: E402
    describe_ratios,
    fsdd_files,
    paired_ratios,
    run_interleaved,
    run_pinned,
    start_local_ray,
)

from data_prep import PrepareConfig, prepare  # noqa: E402


def config(tokenizer: str, asr: bool, speaker: bool) -> PrepareConfig:
    return PrepareConfig.from_dict(
        {
            "decode": {"loudness_lufs": -23.0},
            "segment": {"min_seconds": 0.2},
            "asr": {"enabled": asr},
            "tokenize": {"specs": [tokenizer]},
            "speaker": {"enabled": speaker},
            "shards": {"max_rows": 500},
        }
    )


def workers_of(mode: str) -> int:
    return 1 if mode in ("local", "one") else int(mode.split("-")[1].rstrip("f"))


def on_ray(mode: str) -> bool:
    return mode.startswith("ray-")


def run(mode: str, files: list[Path], cfg: PrepareConfig, out: Path) -> dict[str, float]:
    import torch

    torch.set_num_threads(1)
    workers = workers_of(mode)
    cfg.ray.fuse_stages = mode.endswith("f")
    ray_start = start_local_ray(workers) if on_ray(mode) else 0.0
    use_ray = None if mode == "one" else on_ray(mode)  # "one": prepare's own choice
    start = time.perf_counter()
    report = prepare(files, out, cfg, use_ray=use_ray, workers=workers, progress=False)
    wall = time.perf_counter() - start
    seconds = report.manifest["seconds"]["in"]
    first = report.manifest["runs"][-1]["first_result_seconds"] or 0.0
    if on_ray(mode):
        import ray

        ray.shutdown()
    return {
        "ray_init": ray_start,
        "startup": first,
        "steady_files_per_s": (len(files) - 1) / max(wall - first, 1e-9),
        "cores": workers,
        "wall": wall,
        "files_per_s": len(files) / wall,
        "audio_h_per_h_per_core": seconds / wall / workers,
        "segments": report.manifest["segments"]["kept"],
        "retention": report.manifest["retention"]["overall"] or 0.0,
        "in_process": float(report.manifest["runs"][-1]["mode"] == "local"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=600)
    parser.add_argument("--tokenizer", default="opus@12kbps")
    parser.add_argument("--no-asr", action="store_true", help="leave the ASR stage out")
    parser.add_argument("--no-speaker", action="store_true")
    parser.add_argument(
        "--modes",
        default="local,one,ray-2f",
        help="local, one (the default 1-worker path), ray-N (one actor pool per model stage), "
        "ray-Nf (all stages fused in one pool)",
    )
    parser.add_argument(
        "--repeats", type=int, default=1, help="runs per mode, interleaved; medians reported"
    )
    parser.add_argument("--child", nargs=2, metavar=("MODE", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    files = fsdd_files(args.files)
    print(
        f"{len(files)} FSDD files, tokenizer {args.tokenizer}, "
        f"ASR {'off' if args.no_asr else 'on'}, speaker {'off' if args.no_speaker else 'on'}; "
        f"{os.cpu_count()} CPUs visible, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    with tempfile.TemporaryDirectory() as tmp:

        def run_one(mode: str, repeat: int) -> dict[str, float]:
            return run_child(mode, args, Path(tmp) / f"{mode}-{repeat}")

        results, runs = run_interleaved(args.modes.split(","), args.repeats, run_one, print_run)
    summarise_default_paths(results, runs)
    for suffix, layout in (("f", "fused stages"), ("", "one pool per stage")):
        summarise(results, suffix, layout)
        if args.repeats > 1:
            summarise_rounds(runs, suffix, layout)


def print_run(mode: str, r: dict[str, float]) -> None:
    print(
        f"{mode:<6} cores {r['cores']:.0f}  ray.init {r['ray_init']:4.1f} s  "
        f"wall {r['wall']:7.1f} s  "
        f"{r['files_per_s']:6.2f} files/s  "
        f"{r['audio_h_per_h_per_core']:7.1f} audio h/h/core  "
        f"(start-up {r['startup']:5.1f} s, then {r['steady_files_per_s']:6.2f} files/s)  "
        f"segments {r['segments']:.0f}  retention {r['retention']:.1%}",
        flush=True,
    )


def summarise_default_paths(
    results: dict[str, dict[str, float]], runs: dict[str, list[dict[str, float]]]
) -> None:
    """The paths `prepare` takes by itself: in process at 1 worker, Ray at 2."""
    if {"local", "one"} <= results.keys():
        ratio = results["one"]["wall"] / results["local"]["wall"]
        where = "in process" if results["one"]["in_process"] else "on Ray"
        print(f"1-worker path ({where}): {ratio:.2f}x the plain loop's time (medians)")
        if len(runs["one"]) > 1:
            print(f"  per round: {describe_ratios(paired_ratios(runs, 'one', 'local', 'wall'))}")
    if {"one", "ray-2f"} <= results.keys():
        speedup = results["one"]["wall"] / results["ray-2f"]["wall"]
        print(f"2-worker Ray path: {speedup:.2f}x the 1-worker path's speed (medians)")
        if len(runs["one"]) > 1:
            print(f"  per round: {describe_ratios(paired_ratios(runs, 'one', 'ray-2f', 'wall'))}")


def summarise(results: dict[str, dict[str, float]], suffix: str, layout: str) -> None:
    one, two = f"ray-1{suffix}", f"ray-2{suffix}"
    if {"local", one} <= results.keys():
        overhead = results["local"]["files_per_s"] / results[one]["files_per_s"]
        steady = results["local"]["steady_files_per_s"] / results[one]["steady_files_per_s"]
        cold = (results[one]["wall"] + results[one]["ray_init"]) / results["local"]["wall"]
        print(
            f"{layout}: Ray overhead at 1 worker {overhead:.2f}x the plain loop's time "
            f"({steady:.2f}x after start-up; {cold:.2f}x counting the local cluster's start)"
        )
    if {one, two} <= results.keys():
        speedup = results[two]["files_per_s"] / results[one]["files_per_s"]
        steady = results[two]["steady_files_per_s"] / results[one]["steady_files_per_s"]
        vs_local = ""
        if "local" in results:
            vs_local = f", {results[two]['files_per_s'] / results['local']['files_per_s']:.2f}x"
            vs_local += " the plain loop"
        print(
            f"{layout}: speed-up at 2 workers {speedup:.2f}x Ray at 1 worker{vs_local} "
            f"({steady:.2f}x after start-up)"
        )


def summarise_rounds(runs: dict[str, list[dict[str, float]]], suffix: str, layout: str) -> None:
    """The same ratios per round (each pair of modes ran back to back)."""
    one, two = f"ray-1{suffix}", f"ray-2{suffix}"
    if {"local", one} <= runs.keys():
        overhead = paired_ratios(runs, one, "local", "wall")
        print(f"{layout}: Ray overhead at 1 worker per round: {describe_ratios(overhead)}")
    if {one, two} <= runs.keys():
        speedup = paired_ratios(runs, one, two, "wall")
        print(f"{layout}: speed-up at 2 workers per round: {describe_ratios(speedup)}")


def run_child(mode: str, args: argparse.Namespace, out: Path) -> dict[str, float]:
    """Run one mode in a fresh process restricted to ``workers_of(mode)`` cores."""
    command = [sys.executable, __file__, "--files", str(args.files), "--tokenizer", args.tokenizer]
    command += ["--no-asr"] if args.no_asr else []
    command += ["--no-speaker"] if args.no_speaker else []
    command += ["--child", mode, str(out)]
    return run_pinned(command, workers_of(mode))


def child(args: argparse.Namespace) -> None:
    mode, out = args.child
    cfg = config(args.tokenizer, not args.no_asr, not args.no_speaker)
    print(json.dumps(run(mode, fsdd_files(args.files), cfg, Path(out))))


if __name__ == "__main__":
    main()
