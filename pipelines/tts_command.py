"""The ``audiotok tts`` and ``audiotok tts-convert`` arguments."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from audiotok.errors import AudiotokError
from pipelines.tts import TTSSettings, read_lines, run_tts


def add_tts_commands(commands: Any) -> None:
    tts = commands.add_parser("tts", help="text to 24 kHz speech, optionally in a cloned voice")
    tts.add_argument(
        "--model", help="model directory (official CosyVoice 2 layout or ours) or Hub id"
    )
    tts.add_argument("--text", action="append", default=[], help="a line to speak (repeatable)")
    tts.add_argument("--text-file", type=Path, help="one line per utterance, or id<TAB>text")
    tts.add_argument("--voice", type=Path, help="voice prompt audio to clone (3-10 s of speech)")
    tts.add_argument("--voice-text", default="", help="the voice prompt's transcript")
    tts.add_argument("--speaker", help="a built-in speaker of the model (spk2info)")
    tts.add_argument("--out", "-o", type=Path, required=True, help="output directory")
    tts.add_argument("--batch-size", type=int, default=8, help="lines per batch")
    tts.add_argument("--stream", action="store_true", help="stream: write chunks as they come")
    tts.add_argument("--greedy", action="store_true", help="deterministic arg-max decoding")
    tts.add_argument("--seed", type=int, help="seed of the lines' random generators")
    tts.add_argument("--save-mel", action="store_true", help="also save the flow's mel (.npy)")
    tts.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 ...")
    tts.add_argument(
        "--dtype",
        choices=["float32", "bfloat16", "float16"],
        default="float32",
        help="compute dtype on CUDA (reduced precision where it is safe)",
    )
    tts.add_argument(
        "--random-weights",
        action="store_true",
        help="a debug-size model with random weights (smoke tests: the audio is noise)",
    )
    tts.set_defaults(handler=_cmd_tts)

    convert = commands.add_parser(
        "tts-convert", help="convert a TTS model directory between the official layout and ours"
    )
    convert.add_argument("source", help="model directory or Hub id")
    convert.add_argument("--out", "-o", type=Path, required=True, help="new model directory")
    convert.add_argument(
        "--to",
        choices=["safetensors", "official"],
        default="safetensors",
        help="safetensors: our layout (config.json + *.safetensors); official: *.pt + yaml",
    )
    convert.set_defaults(handler=_cmd_convert)


def _cmd_tts(args: argparse.Namespace) -> int:
    from models.tts.registry import load_generator

    if not args.text and args.text_file is None:
        raise AudiotokError("tts: give --text (repeatable) or --text-file")
    if args.model is None and not args.random_weights:
        raise AudiotokError("tts: give --model DIR|ID, or --random-weights for a smoke test")
    lines = read_lines(args.text, args.text_file)
    settings = TTSSettings(
        model="random-weights" if args.random_weights else str(args.model),
        voice_text=args.voice_text,
        speaker=args.speaker,
        greedy=args.greedy,
        seed=args.seed,
        stream=args.stream,
        save_mel=args.save_mel,
    )
    report = run_tts(
        lines,
        args.out,
        lambda: load_generator(
            args.model, random_weights=args.random_weights, device=args.device, dtype=args.dtype
        ),
        settings,
        voice_path=args.voice,
        batch_size=args.batch_size,
    )
    print(
        f"tts: {len(report.written)} written, {len(report.skipped)} already there, "
        f"{len(report.failed)} failed -> {args.out}"
        + (f" (see {args.out / 'errors.jsonl'})" if report.failed else "")
    )
    if report.first_chunk_s:
        print(f"tts: first chunk after {min(report.first_chunk_s):.3f} s (best line)")
    return 0 if not report.failed or report.written or report.skipped else 1


def _cmd_convert(args: argparse.Namespace) -> int:
    from models.tts.registry import convert_model

    written = convert_model(args.source, args.out, to=args.to)
    print(f"tts-convert: {args.source} -> {written}")
    return 0
