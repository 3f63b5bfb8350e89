"""The ``audiotok`` command line: one subcommand per job, each calling one library function."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from audiotok.errors import AudiotokError
from audiotok.requirements import ConfigurationError
from audiotok.tokenizers.registry import TokenizerInfo
from pipelines.bench.command import add_bench_command, bench_lines
from pipelines.translate.command import add_translate_command
from pipelines.tts_command import add_tts_commands


def main(argv: Sequence[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except ConfigurationError as exc:
        for line in exc.lines():  # one line per problem, nothing started
            print(f"audiotok: error: {line}", file=sys.stderr)
        return 2
    except AudiotokError as exc:
        print(f"audiotok: error: {exc}", file=sys.stderr)
        return 2


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="audiotok", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="tokenize and decode the embedded sample (offline)")
    demo.add_argument("--out", type=Path, default=Path("audiotok-demo"))
    demo.set_defaults(handler=_cmd_demo)

    listing = commands.add_parser("list-tokenizers", help="registered tokenizers and codecs")
    listing.set_defaults(handler=_cmd_list)

    tokenize = commands.add_parser("tokenize", help="audio files and directories to token files")
    tokenize.add_argument("inputs", nargs="+", help="audio files, directories or globs")
    tokenize.add_argument("--tokenizer", "-t", required=True, help="spec, e.g. opus@12kbps")
    tokenize.add_argument("--out", "-o", type=Path, required=True, help="output directory")
    tokenize.add_argument("--weights", help="Hugging Face id or local directory of weights")
    tokenize.add_argument("--device", help="cpu, cuda, cuda:1 ...")
    tokenize.add_argument("--format", choices=["npz", "arrow"], default="npz")
    tokenize.add_argument("--batch-size", type=int, default=8)
    tokenize.add_argument(
        "--random-weights",
        action="store_true",
        help="tiny randomly initialised model instead of weights (smoke tests only)",
    )
    tokenize.set_defaults(handler=_cmd_tokenize)

    prepare = commands.add_parser(
        "prepare", help="audio (+ transcripts) to token shards: VAD, filters, ASR, tokens"
    )
    prepare.add_argument(
        "inputs", nargs="+", help="directories, globs, manifests (tsv/csv/jsonl), Kaldi wav.scp"
    )
    prepare.add_argument("--out", "-o", type=Path, required=True, help="output directory")
    prepare.add_argument("--config", type=Path, help="PrepareConfig as YAML or JSON")
    prepare.add_argument(
        "--tokenizers", help="comma-separated tokenizer specs (e.g. opus@12kbps,mulaw); none"
    )
    prepare.add_argument("--asr", help="ASR backend (faster-whisper) or none")
    prepare.add_argument(
        "--language",
        help="language of inputs whose manifest gives none (en, fr, ...); default: unknown",
    )
    prepare.add_argument(
        "--require-text",
        action="store_true",
        help="drop segments left without usable text (default: keep them with empty text)",
    )
    prepare.add_argument("--speaker-encoder", help="speaker encoder (resemblyzer) or none")
    prepare.add_argument("--ray-address", help="an existing Ray cluster (default: local Ray)")
    prepare.add_argument(
        "--workers",
        type=int,
        help="workers (default: every CPU); 1 runs in this process, 2 or more on local Ray",
    )
    prepare.add_argument("--no-ray", action="store_true", help="plain single-process loop")
    prepare.add_argument("--limit", type=int, help="process at most N new files")
    prepare.add_argument(
        "--check", action="store_true", help="only check that every enabled stage can run here"
    )
    prepare.set_defaults(handler=_cmd_prepare)

    info = commands.add_parser("info", help="describe an audio file or a token file")
    info.add_argument("path", type=Path)
    info.set_defaults(handler=_cmd_info)
    _add_synth_commands(commands)
    add_tts_commands(commands)
    add_translate_command(commands)
    add_bench_command(commands)
    return parser


def _cmd_demo(args: argparse.Namespace) -> int:
    from pipelines.demo import run_demo

    rows = run_demo(args.out)
    print(f"{'codec':<16}{'nominal':>10}{'measured':>10}{'SNR dB':>8}  output")
    for row in rows:
        if row.skipped:
            print(f"{row.spec:<16}{row.nominal_kbps:>9.2f}k{'':>10}{'':>8}  skipped: {row.skipped}")
            continue
        assert row.measured_kbps is not None and row.snr_db is not None
        print(
            f"{row.spec:<16}{row.nominal_kbps:>9.2f}k{row.measured_kbps:>9.2f}k"
            f"{row.snr_db:>8.1f}  {row.audio_path}"
        )
    print(f"\nOriginal, decoded audio and token files are in {args.out.resolve()}")
    from pipelines.demo import run_prepare_demo
    from pipelines.prepare import summary_line

    shards, manifest = run_prepare_demo(args.out)
    print("\nprepare (VAD, filter, tokens, speaker embedding) on the sample: ", end="")
    print(summary_line(manifest, shards.resolve()))
    from pipelines.demo import run_bench_demo

    print("\nbench (default codec set, every metric) on the sample:")
    bench = run_bench_demo(args.out)
    for line in bench_lines(bench.summary):
        print(line)
    print(f"report: {bench.report_html.resolve()}")
    return 0 if any(row.skipped is None for row in rows) else 1


def _cmd_list(args: argparse.Namespace) -> int:
    from audiotok.tokenizers import list_tokenizers

    header = (
        f"{'spec':<22}{'rate':>7}{'frames/s':>10}{'kbps':>8}{'K':>4}{'codes':>7}  weights  status"
    )
    print(header)
    for info in list_tokenizers():
        status = _status(info)
        print(
            f"{info.spec:<22}{info.sample_rate:>7}{info.frame_rate:>10.2f}"
            f"{info.nominal_bitrate / 1000:>8.2f}{info.num_codebooks:>4}{info.codebook_size:>7}"
            f"  {'needed' if info.needs_weights else 'none':<7}  {status}"
        )
    return 0


def _status(info: TokenizerInfo) -> str:
    if not info.available:
        return f"unavailable: {info.unavailable_reason}"
    if not info.needs_weights or info.weights_cached:
        return "available"
    return f"needs weights: {info.default_weights} (not in the local cache) or --weights DIR"


def _cmd_tokenize(args: argparse.Namespace) -> int:
    from audiotok.tokenizers import get_tokenizer
    from pipelines.tokenize import check_tokenize, tokenize_files

    check_tokenize(args.tokenizer, weights=args.weights, debug=args.random_weights)
    tokenizer = get_tokenizer(
        args.tokenizer, weights=args.weights, device=args.device, debug=args.random_weights
    )
    report = tokenize_files(
        args.inputs, tokenizer, args.out, fmt=args.format, batch_size=args.batch_size
    )
    for path, reason in report.failed:
        print(f"skipped {path}: {reason}", file=sys.stderr)
    print(
        f"{report.succeeded} file(s) tokenized ({report.seconds_of_audio:.1f} s of audio), "
        f"{len(report.failed)} failed; output in {args.out}"
    )
    return 0 if report.succeeded else 1


def _cmd_prepare(args: argparse.Namespace) -> int:
    from pipelines.prepare import prepare_command

    return prepare_command(
        args.inputs,
        args.out,
        config_path=args.config,
        tokenizers=args.tokenizers,
        asr=args.asr,
        language=args.language,
        require_text=args.require_text,
        speaker_encoder=args.speaker_encoder,
        ray_address=args.ray_address,
        workers=args.workers,
        use_ray=False if args.no_ray else None,
        limit=args.limit,
        check_only=args.check,
    )


def _cmd_info(args: argparse.Namespace) -> int:
    from pipelines.describe import describe

    print(describe(args.path))
    return 0


def _add_synth_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    synth = commands.add_parser(
        "synth", help="synthetic parallel speech from aligned text files (same voice both sides)"
    )
    synth.add_argument("--pairs", nargs=2, metavar=("SRC", "TGT"), type=Path, required=True)
    synth.add_argument("--src-lang", required=True, help="en, fr, es, de, hi, bn, ur")
    synth.add_argument("--tgt-lang", required=True)
    synth.add_argument("--out", "-o", type=Path, required=True, help="shard directory")
    synth.add_argument("--speakers", type=int, default=8, help="speaker pool size")
    synth.add_argument("--voices-per-line", type=int, default=1, help="speakers per line")
    synth.add_argument("--limit", type=int, help="only the first N line pairs")
    synth.add_argument("--engine", default="espeak-ng", help="registered TTS engine")
    synth.add_argument("--sample-rate", type=int, default=16000)
    synth.add_argument("--workers", type=int, help="parallel synthesis threads")
    synth.set_defaults(handler=_cmd_synth)

    export = commands.add_parser(
        "export-webdataset", help="Parquet shards (prepare or synth) to WebDataset tars"
    )
    export.add_argument("shards", type=Path, help="Parquet shard directory")
    export.add_argument("--out", "-o", type=Path, required=True)
    export.add_argument("--samples-per-tar", type=int, default=1000)
    export.set_defaults(handler=_cmd_export_webdataset)


def _cmd_synth(args: argparse.Namespace) -> int:
    from data_prep.synth import run_synth

    src, tgt = args.pairs
    report = run_synth(
        src,
        tgt,
        args.src_lang,
        args.tgt_lang,
        args.out,
        speakers=args.speakers,
        voices_per_line=args.voices_per_line,
        limit=args.limit,
        engine=args.engine,
        sample_rate=args.sample_rate,
        workers=args.workers,
    )
    skipped = sum(report.skipped.values())
    print(
        f"{report.pair}: {report.rows} row(s), {report.hours * 3600:.1f} s of speech in "
        f"{report.elapsed_seconds:.1f} s; {skipped} skipped"
        + (f", {report.resumed_lines} line(s) already done" if report.resumed_lines else "")
        + f"; output in {args.out}"
    )
    return 0 if report.rows or report.resumed_lines else 1


def _cmd_export_webdataset(args: argparse.Namespace) -> int:
    from data_prep.export import export_webdataset

    report = export_webdataset(args.shards, args.out, samples_per_tar=args.samples_per_tar)
    print(f"{report.samples} sample(s) in {len(report.tars)} tar(s) in {args.out}")
    return 0 if report.samples else 1


if __name__ == "__main__":
    sys.exit(main())
