"""The ``audiotok translate`` subcommand: flags to `TranslateSettings`, then `run_translate`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from models.s2st.languages import LANGUAGES
from models.s2st.translator import TranslatorOptions
from pipelines.translate.assemble import OUTPUTS
from pipelines.translate.job import TranslateReport, TranslateSettings, run_translate
from pipelines.translate.segments import PlanConfig

BACKENDS = ("cascade", "seamless", "ds2st-lm")


def add_translate_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "translate",
        help="speech files to speech in another language, in the speaker's voice",
        description="Cut each file at pauses, translate the segments (ASR -> MT -> TTS, "
        "SeamlessM4T v2 or DS2ST-LM) and write OUT/<relative path>.wav with subtitles, "
        "manifest.jsonl, errors.jsonl and summary.json. Reruns skip finished files.",
    )
    parser.add_argument("inputs", nargs="+", help="audio files, directories, globs, manifests")
    parser.add_argument("--out", "-o", type=Path, required=True, help="output directory")
    parser.add_argument("--backend", choices=BACKENDS, default="cascade")
    parser.add_argument(
        "--source",
        required=True,
        choices=(*LANGUAGES, "auto"),
        help="language of the speech (auto: the ASR identifies it)",
    )
    parser.add_argument("--target", required=True, choices=LANGUAGES)
    parser.add_argument("--asr-model", help="cascade: faster-whisper model (size, Hub id, dir)")
    parser.add_argument("--mt-model", help="cascade: NLLB / M2M100 / opus-mt (Hub id or dir)")
    parser.add_argument(
        "--tts-model",
        help="TTS model (Hub id or dir; CosyVoice 2 layout), or espeak-ng / piper (offline)",
    )
    parser.add_argument("--model", help="seamless / ds2st-lm: the model (Hub id or dir)")
    parser.add_argument(
        "--voice",
        choices=("keep", "none"),
        default="keep",
        help="keep: speak in the source speaker's voice",
    )
    parser.add_argument(
        "--output",
        choices=OUTPUTS,
        default="concat",
        help="concat: with the source's pauses; dub: the input's length",
    )
    parser.add_argument("--max-segment-s", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=1, help="translators (Ray actors if > 1)")
    parser.add_argument("--batch-size", type=int, default=8, help="segments per batch")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 ...")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ray-address", help="an existing Ray cluster")
    parser.add_argument(
        "--random-weights",
        action="store_true",
        help="tiny random models for every component without packaged weights (tests only: "
        "the output is noise and is marked so)",
    )
    parser.set_defaults(handler=_cmd_translate)


def _cmd_translate(args: argparse.Namespace) -> int:
    options = TranslatorOptions(
        source=args.source,
        target=args.target,
        asr_model=args.asr_model,
        mt_model=args.mt_model,
        tts_model=args.tts_model,
        model=args.model,
        voice=args.voice,
        random_weights=args.random_weights,
        device=args.device,
        seed=args.seed,
    )
    settings = TranslateSettings(
        options=options,
        backend=args.backend,
        output=args.output,
        plan=PlanConfig(max_s=args.max_segment_s),
        batch_size=args.batch_size,
        workers=args.workers,
        ray_address=args.ray_address,
    )
    report = run_translate(args.inputs, args.out, settings)
    _print_report(report, args.out)
    return 0 if report.translated or report.skipped or not report.failed else 1


def _print_report(report: TranslateReport, out: Path) -> None:
    parts = report.translator
    print(
        f"translated {len(report.translated)} file(s), skipped {len(report.skipped)} done, "
        f"failed {len(report.failed)} ({len(report.no_speech)} without speech) -> {out}"
    )
    if parts:
        shown = ", ".join(f"{k}: {v}" for k, v in parts.items() if k not in ("random", "backend"))
        print(f"models: {shown}")
    if parts.get("random"):
        print(
            f"WARNING: random weights for {', '.join(parts['random'])}: the output is noise "
            "(tests only)",
            file=sys.stderr,
        )
    if report.failed:
        print(f"see {out / 'errors.jsonl'}", file=sys.stderr)


__all__ = ["BACKENDS", "add_translate_command"]
