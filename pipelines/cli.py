"""The ``audiotok`` command line: one subcommand per job, each calling one library function."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from audiotok.errors import AudiotokError
from audiotok.tokenizers.registry import TokenizerInfo


def main(argv: Sequence[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
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

    info = commands.add_parser("info", help="describe an audio file or a token file")
    info.add_argument("path", type=Path)
    info.set_defaults(handler=_cmd_info)
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
    from pipelines.tokenize import tokenize_files

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


def _cmd_info(args: argparse.Namespace) -> int:
    from pipelines.describe import describe

    print(describe(args.path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
