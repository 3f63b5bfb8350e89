#!/usr/bin/env python
"""Train the debug semantic tokenizer on CPU and print its figures.

Data: FSDD digits (speaker theo held out) + espeak-ng speech from Tatoeba sentences, read from
the shared data folder ($AUDIOTOK_SHARED_DATA, default ../shared/data); generated audio and
manifests are cached under --cache-dir (default ~/.cache/audiotok/semantic_tokenizer_debug).

    .venv/bin/python scripts/train_semantic_tokenizer_debug.py --minutes 4
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from models.semantic_tokenizer.debug_recipe import DebugRecipeConfig, run_debug_recipe

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    cache_default = Path.home() / ".cache" / "audiotok" / "semantic_tokenizer_debug"
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--shared-data",
        default=os.environ.get("AUDIOTOK_SHARED_DATA", str(ROOT.parent / "shared" / "data")),
    )
    parser.add_argument("--cache-dir", default=str(cache_default))
    parser.add_argument("--output-dir", default=None, help="default: CACHE_DIR/run")
    parser.add_argument("--minutes", type=float, default=4.0, help="training time budget")
    parser.add_argument("--max-steps", type=int, default=1200)
    parser.add_argument("--backend", choices=["local", "ray"], default="ray")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--sentences-per-language", type=int, default=80)
    parser.add_argument("--resume", action="store_true", help="continue the run in OUTPUT_DIR")
    args = parser.parse_args()
    config = DebugRecipeConfig(
        shared_data=args.shared_data,
        cache_dir=args.cache_dir,
        output_dir=args.output_dir or str(Path(args.cache_dir) / "run"),
        sentences_per_language=args.sentences_per_language,
        max_seconds=args.minutes * 60,
        max_steps=args.max_steps,
        backend=args.backend,
        num_threads=args.threads,
        fresh=not args.resume,
    )
    result = run_debug_recipe(config)
    print(result.summary())


if __name__ == "__main__":
    main()
