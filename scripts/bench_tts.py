"""CosyVoice 2 TTS speed: ours against the official CosyVoice 2 code, same machine, same run.

Both sides get the same random weights (``random_parts(seed, size)``, full size by default,
copied into the reference's modules: the LM as ``llm.pt`` names it, the flow's
``reference_state()``, the vocoder's plain weights as the weight-norm pairs the reference's
modules hold), the same thread count, the same text token ids and speaker vector, and the
same speech-token budget per line. The reference runs as its users run it:
``cosyvoice.cli.model.CosyVoice2Model.tts`` (its LM in a thread; streaming polls the tokens
every 0.1 s and re-runs the flow over every token so far at each 25-token hop).

Scenarios (medians of ``--repeats`` runs, the two sides interleaved; ratios paired per run):
(a) 8 lines of 10-20 words: the reference one line at a time, ours as one batch of 8;
(b) streaming one 40-word line: time to the first audio chunk and to the end;
(c) x-real-time of each stage (LM, flow, HiFT) on both sides, from (a) and (b);
(d) peak memory (RSS high-water mark) of ours over ``--memory-requests`` requests, in a
    process of its own.

Random LMs rarely emit end of speech, so every line is held to a fixed number of speech tokens
on both sides: the minimum and maximum token/text ratios are both set to one ratio ``r``
(ours: ``SamplingConfig(min_ratio=r, max_ratio=r)``; the reference:
``Qwen2LM.inference(min_token_text_ratio=r, max_token_text_ratio=r)``), so each line gets
exactly ``int(r * text tokens)`` steps on both sides; ``--tokens`` sets ``r`` (printed).

    .venv/bin/python scripts/bench_tts.py [--quick] [--repeats 3] [--threads N] [--tokens 60]
        [--stream-tokens 150] [--memory-requests 100]

Other work on the machine slows a run a lot (torch's threads then wait for cores): each run
prints the 1-minute load average, and the summary gives the fastest runs' ratio beside the
median.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import importlib.metadata
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "scripts")]

from benchlib import (  # noqa: E402
    describe_ratios,
    gemm_flops_per_second,
    paired_ratios,
    run_interleaved,
)

from models.tts.cosyvoice2 import model as model_module  # noqa: E402
from models.tts.cosyvoice2.lm import REFERENCE_BODY_PREFIX, TEXT_HEAD_KEY  # noqa: E402
from models.tts.cosyvoice2.loading import random_parts  # noqa: E402
from models.tts.cosyvoice2.model import (  # noqa: E402
    CosyVoice2Generator,
    CosyVoice2Parts,
    StreamConfig,
)
from models.tts.cosyvoice2.voice import VoiceCondition, speaker_condition  # noqa: E402
from models.tts.generator import SynthesisRequest  # noqa: E402

SAMPLE_RATE = 24000
BATCH = 8
SPEAKER = "random"
Medians = dict[str, dict[str, float]]  # figures by side: `run_interleaved`'s medians ...
Runs = dict[str, list[dict[str, float]]]  # ... and every run's figures

LINES = (  # (a): 8 lines of 10-20 words, one sentence each (one LM piece on our side)
    "The morning train was late again, so we walked to the office instead.",
    "Please remember to water the plants on the balcony before you leave for the weekend.",
    "A small boat drifted slowly across the quiet lake while the sun went down.",
    "He opened the old wooden box and found a bundle of letters tied with string.",
    "Our neighbours are planning a garden party next Saturday and everyone on the street is "
    "invited.",
    "The museum will stay open late on Thursdays during the summer months.",
    "She carefully wrote down every word the professor said about the history of the bridge.",
    "If the weather stays dry tomorrow, the children want to go cycling along the river.",
)
LONG_LINE = (  # (b): 40 words, one sentence
    "When the storm passed over the valley early in the morning, the farmers walked into "
    "the muddy fields to count the fallen trees, mend the broken fences and check on the "
    "animals that had spent the night in the barn."
)


# -- timing the stages -------------------------------------------------------------------------


@dataclass
class StageClock:
    """Seconds spent in each stage since the last `reset`, summed over calls, and the speech
    tokens the reference's LM yielded (its wrapper counts them)."""

    seconds: dict[str, float] = field(default_factory=dict)
    tokens: list[int] = field(default_factory=list)
    lm_threads: set[int] = field(default_factory=set)

    def reset(self) -> None:
        self.seconds = {}
        self.tokens = []

    def add(self, stage: str, seconds: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds

    def get(self, stage: str) -> float:
        return self.seconds.get(stage, 0.0)

    def timed(self, stage: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.add(stage, time.perf_counter() - start)

        return wrapper

    def timed_tokens(self, stage: str, fn: Callable[..., Iterator[int]]) -> Callable[..., Any]:
        """``fn``, a generator of tokens, timed from its call to its exhaustion."""

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Iterator[int]:
            start = time.perf_counter()
            self.lm_threads.add(torch.get_num_threads())  # in the thread that runs the LM
            count = 0
            try:
                for token in fn(*args, **kwargs):
                    count += 1
                    yield token
            finally:
                self.add(stage, time.perf_counter() - start)
                self.tokens.append(count)

        return wrapper


CLOCK = StageClock()


# -- the two sides -----------------------------------------------------------------------------


@dataclass
class Budget:
    """The token/text ratio both sides decode with (min = max: exactly ``int(r * text)``)."""

    ratio: float = 20.0


BUDGET = Budget()


def ratio_for(text_lengths: list[int], mean_tokens: float) -> float:
    """A ratio giving ``mean_tokens`` speech tokens per line on average, nudged so that
    ``int(r * n)`` is the same in float64 (ours) and float32 tensors (the reference)."""
    ratio = mean_tokens / statistics.mean(text_lengths)
    for _ in range(1000):
        ours = [int(n * ratio) for n in text_lengths]
        theirs = [int(torch.tensor([n], dtype=torch.int32) * ratio) for n in text_lengths]
        if ours == theirs and all(abs(n * ratio - round(n * ratio)) > 1e-3 for n in text_lengths):
            return ratio
        ratio += 1e-4
    raise RuntimeError("no ratio with the same caps in float32 and float64")


def caps(text_lengths: list[int], ratio: float) -> list[int]:
    return [int(n * ratio) for n in text_lengths]


class Ours:
    """Our generator, its sampling held to `BUDGET`'s ratio, its stages timed."""

    def __init__(self, parts: CosyVoice2Parts) -> None:
        self.parts = parts
        self.base_sampling = parts.sampling
        self.generator = CosyVoice2Generator(parts, stream_config=StreamConfig())
        self.condition = speaker_condition(parts.speakers[SPEAKER], parts.flow.config.mel_bins)

    def instrument(self) -> None:
        model_module.generate = CLOCK.timed("lm", model_module.generate)
        flow, hift = self.parts.flow, self.parts.hift
        flow.inference = CLOCK.timed("flow", flow.inference)  # type: ignore[method-assign]
        flow.stream_step = CLOCK.timed("flow", flow.stream_step)  # type: ignore[method-assign]
        hift.synthesize = CLOCK.timed("hift", hift.synthesize)  # type: ignore[method-assign]
        hift.stream_step = CLOCK.timed("hift", hift.stream_step)  # type: ignore[method-assign]

    def hold(self, ratio: float) -> None:
        self.parts.sampling = replace(self.base_sampling, min_ratio=ratio, max_ratio=ratio)

    def text_ids(self, line: str) -> list[int]:
        pieces = self.parts.text.split(line)
        if len(pieces) != 1:
            raise SystemExit(f"bench line is {len(pieces)} LM pieces, want 1: {line!r}")
        return self.parts.text.encode(pieces[0])

    @staticmethod
    def requests(lines: list[str], greedy: bool = False) -> list[SynthesisRequest]:
        return [
            SynthesisRequest(f"line{i}", line, speaker=SPEAKER, greedy=greedy, seed=100 + i)
            for i, line in enumerate(lines)
        ]


class Reference:
    """The official ``CosyVoice2Model`` around the reference LM, flow and HiFT."""

    def __init__(self, parts: CosyVoice2Parts, folder: Path) -> None:
        self.llm, self.flow, self.hift = build_reference(parts, folder)
        cli = reference_module("cli.model")
        self.model = cli.CosyVoice2Model(self.llm, self.flow, self.hift, fp16=False)
        # cosyvoice-minicpmo's constructor leaves ``llm`` unset (MiniCPM-o brings its own LM);
        # upstream CosyVoice sets it there: its ``llm_job`` reads it.
        self.model.llm = self.llm
        self.inference = self.llm.inference

    def instrument(self) -> None:
        def held(*args: Any, **kwargs: Any) -> Iterator[int]:
            kwargs.update(min_token_text_ratio=BUDGET.ratio, max_token_text_ratio=BUDGET.ratio)
            return self.inference(*args, **kwargs)

        self.llm.inference = CLOCK.timed_tokens("lm", held)
        self.flow.inference = CLOCK.timed("flow", self.flow.inference)
        self.hift.inference = CLOCK.timed("hift", self.hift.inference)

    def tts(self, ids: list[int], condition: VoiceCondition, stream: bool) -> Iterator[Any]:
        speaker = condition.speaker[None]
        return self.model.tts(
            text=torch.tensor([ids], dtype=torch.int32),
            flow_embedding=speaker,
            llm_embedding=speaker,
            prompt_text=condition.prompt_text[None].int(),
            llm_prompt_speech_token=condition.prompt_speech[None].int(),
            flow_prompt_speech_token=condition.prompt_speech[None].int(),
            prompt_speech_feat=condition.prompt_mel[None],
            stream=stream,
        )


def helper_from_tests(module: str, name: str) -> Any:
    """``name`` from the test module ``module`` (imported at run time: the tests' helpers that
    build the reference modules, not type-checked with this script)."""
    return getattr(importlib.import_module(module), name)


def reference_module(name: str) -> Any:
    """``cosyvoice.<name>``, imported as the tests import it (stand-ins for torchaudio)."""
    return helper_from_tests("tests.models.cosyvoice_reference", "reference_module")(name)


def build_reference(parts: CosyVoice2Parts, folder: Path) -> tuple[Any, Any, Any]:
    """The reference ``Qwen2LM``, ``CausalMaskedDiffWithXvec`` and ``HiFTGenerator`` built as
    the tests build them, holding ``parts``' weights (loaded strictly)."""
    reference_lm = helper_from_tests("tests.models.cosyvoice_reference", "reference_lm")
    reference_flow = helper_from_tests("tests.models.test_cosyvoice2_end_to_end", "reference_flow")
    reference_hift = helper_from_tests("tests.models.test_cosyvoice2_hift", "reference_hift")

    # reference_lm also runs the decoding steps without the one-position attention mask that
    # transformers 5.x misreads (see its _attend_to_the_whole_cache): as the code intends.
    llm = reference_lm(parts.lm.config, folder, seed=0)
    state = {
        (REFERENCE_BODY_PREFIX + k[len("body.") :] if k.startswith("body.") else k): v
        for k, v in parts.lm.state_dict().items()
    }
    state[TEXT_HEAD_KEY] = state[REFERENCE_BODY_PREFIX + "embed_tokens.weight"]
    llm.load_state_dict(state, strict=True)

    flow = reference_flow(parts.flow.config, seed=0)
    flow.load_state_dict(parts.flow.reference_state(), strict=True)

    hift = reference_hift(parts.hift.config, seed=0)
    hift.load_state_dict(weight_norm_pairs(hift, parts.hift.reference_state()), strict=True)
    return llm.eval(), flow.eval(), hift.eval()


def weight_norm_pairs(module: torch.nn.Module, plain: dict[str, torch.Tensor]) -> dict[str, Any]:
    """``plain`` weights as ``module``'s state dict names them: each weight-normed ``w`` as
    ``original0 = |w|`` (over the dims where the module's gain has size 1) and
    ``original1 = w``, so that ``g * v / |v|`` gives ``w`` back."""
    gain, direction = ".parametrizations.weight.original0", ".parametrizations.weight.original1"
    out, used = {}, set()
    for key, target in module.state_dict().items():
        for suffix in (gain, direction):
            if key.endswith(suffix):
                name = key[: -len(suffix)] + ".weight"
                weight = plain[name]
                if suffix == gain:
                    dims = [d for d in range(weight.dim()) if target.shape[d] == 1]
                    out[key] = torch.linalg.vector_norm(weight, dim=dims, keepdim=True)
                else:
                    out[key] = weight
                used.add(name)
                break
        else:
            out[key] = plain[key]
            used.add(key)
    unused = sorted(set(plain) - used)
    if unused:
        raise ValueError(f"HiFT weights the reference has no place for: {unused[:8]}")
    return out


# -- checks and scenarios ----------------------------------------------------------------------


def same_weights_check(ours: Ours, reference: Reference, line: str, tokens: int) -> str:
    """Greedy ``tokens`` tokens of ``line`` through both chains: tokens, mel and wave."""
    ids = ours.text_ids(line)
    ratio = (tokens + 0.5) / len(ids)
    ours.hold(ratio)
    BUDGET.ratio = ratio
    request = Ours.requests([line], greedy=True)[0]
    mine = ours.generator.synthesize([request])[0]
    if mine.error is not None:
        return f"ours failed: {mine.error}"
    condition = ours.condition
    sampling = reference.llm.sampling
    reference.llm.sampling = lambda scores, decoded, k: scores.argmax().reshape(1)
    try:
        theirs = list(
            reference.llm.inference(
                text=torch.tensor([ids]),
                text_len=torch.tensor([len(ids)], dtype=torch.int32),
                prompt_text=condition.prompt_text[None],
                prompt_text_len=torch.tensor([0], dtype=torch.int32),
                prompt_speech_token=condition.prompt_speech[None],
                prompt_speech_token_len=torch.tensor([0], dtype=torch.int32),
                embedding=condition.speaker[None],
            )
        )
    except RuntimeError as error:
        return f"reference LM failed: {error}"
    finally:
        reference.llm.sampling = sampling
    mel, _ = reference.flow.inference(
        token=torch.tensor([mine.speech_tokens]),
        token_len=torch.tensor([len(mine.speech_tokens)]),
        prompt_token=condition.prompt_speech[None],
        prompt_token_len=torch.tensor([0]),
        prompt_feat=condition.prompt_mel[None],
        prompt_feat_len=torch.tensor([0]),
        embedding=condition.speaker[None],
        streaming=False,
        finalize=True,
    )
    seed = model_module._seed(request, 0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed if seed is not None else 0)
        wave, _ = reference.hift.inference(speech_feat=mel)
    same = sum(a == b for a, b in zip(mine.speech_tokens, theirs, strict=False))
    assert mine.mel is not None
    mel_diff = float((torch.from_numpy(mine.mel) - mel[0]).abs().max())
    n = min(len(mine.audio), wave.shape[1])
    wave_diff = float(np.abs(mine.audio[:n] - wave[0, :n].numpy()).max())
    return (
        f"greedy tokens {same}/{len(theirs)} equal (ours {len(mine.speech_tokens)}), mel max "
        f"diff {mel_diff:.1e}, wave max diff {wave_diff:.1e} (|wave| max "
        f"{float(np.abs(mine.audio).max()):.2f})"
    )


def offline_runs(
    ours: Ours, reference: Reference, lines: list[str], repeats: int
) -> tuple[Medians, Runs, dict[str, list[int]]]:
    """(a): the reference line by line, ours as one batch; also the tokens per line."""
    ids = [ours.text_ids(line) for line in lines]
    tokens: dict[str, list[int]] = {}

    def run_one(mode: str, repeat: int) -> dict[str, float]:
        CLOCK.reset()
        audio = 0
        start = time.perf_counter()
        if mode == "reference":
            for i, line_ids in enumerate(ids):
                torch.manual_seed(100 + i)
                for out in reference.tts(line_ids, ours.condition, stream=False):
                    audio += int(out["tts_speech"].shape[1])
            tokens[mode] = list(CLOCK.tokens)
        else:
            results = ours.generator.synthesize(Ours.requests(lines))
            errors = [r.error for r in results if r.error is not None]
            if errors:
                raise SystemExit(f"ours failed: {errors[0]}")
            audio = sum(len(r.audio) for r in results)
            tokens[mode] = [len(r.speech_tokens) for r in results]
        total = time.perf_counter() - start
        return {
            "total": total,
            "lm": CLOCK.get("lm"),
            "flow": CLOCK.get("flow"),
            "hift": CLOCK.get("hift"),
            "audio": audio / SAMPLE_RATE,
            "tokens": float(sum(tokens[mode])),
            "load": os.getloadavg()[0],
        }

    def show(mode: str, f: dict[str, float]) -> None:
        print(
            f"  {mode:<9} total {f['total']:7.1f} s | LM {f['lm']:7.1f} s | flow "
            f"{f['flow']:6.1f} s | HiFT {f['hift']:5.1f} s | {f['tokens']:.0f} tokens, "
            f"{f['audio']:.1f} s audio | {f['audio'] / f['total']:.2f}x RT | load "
            f"{f['load']:.1f}",
            flush=True,
        )

    medians, runs = run_interleaved(["reference", "ours"], repeats, run_one, show)
    return medians, runs, tokens


def stream_runs(ours: Ours, reference: Reference, line: str, repeats: int) -> tuple[Medians, Runs]:
    """(b): one line streamed, first chunk and end, both timed from the call."""
    ids = ours.text_ids(line)
    request = Ours.requests([line])[0]

    def run_one(mode: str, repeat: int) -> dict[str, float]:
        CLOCK.reset()
        first, chunks, audio, tokens = -1.0, 0, 0, 0
        start = time.perf_counter()
        if mode == "reference":
            torch.manual_seed(100)
            for out in reference.tts(ids, ours.condition, stream=True):
                samples = int(out["tts_speech"].shape[1])
                if first < 0 and samples:
                    first = time.perf_counter() - start
                chunks += int(samples > 0)
                audio += samples
            tokens = sum(CLOCK.tokens)
        else:
            for chunk in ours.generator.stream(request):
                if first < 0 and chunk.audio.size:
                    first = time.perf_counter() - start
                chunks += int(chunk.audio.size > 0)
                audio += chunk.audio.size
                if chunk.result is not None:
                    if chunk.result.error is not None:
                        raise SystemExit(f"ours failed: {chunk.result.error}")
                    tokens = len(chunk.result.speech_tokens)
        total = time.perf_counter() - start
        flow, hift = CLOCK.get("flow"), CLOCK.get("hift")
        # ours: the LM runs between the chunks, in the same thread (the rest of the time);
        # the reference: its LM thread's wall time, overlapping the flow and HiFT
        lm = CLOCK.get("lm") if mode == "reference" else total - flow - hift
        return {
            "first": first,
            "total": total,
            "chunks": float(chunks),
            "lm": lm,
            "flow": flow,
            "hift": hift,
            "audio": audio / SAMPLE_RATE,
            "tokens": float(tokens),
            "load": os.getloadavg()[0],
        }

    def show(mode: str, f: dict[str, float]) -> None:
        print(
            f"  {mode:<9} first chunk {f['first']:6.2f} s | total {f['total']:6.1f} s | "
            f"{f['chunks']:.0f} chunks | LM {f['lm']:6.1f} s | flow {f['flow']:5.1f} s | "
            f"HiFT {f['hift']:5.1f} s | {f['tokens']:.0f} tokens, {f['audio']:.1f} s audio | "
            f"load {f['load']:.1f}",
            flush=True,
        )

    return run_interleaved(["reference", "ours"], repeats, run_one, show)


def warm_up(ours: Ours, reference: Reference, line: str, tokens: int) -> None:
    """One short line through every path, untimed (first-call costs out of the way)."""
    ids = ours.text_ids(line)
    ratio = (tokens + 0.5) / len(ids)
    ours.hold(ratio)
    BUDGET.ratio = ratio
    request = Ours.requests([line])[0]
    ours.generator.synthesize([request])
    list(ours.generator.stream(request))
    for stream in (False, True):
        list(reference.tts(ids, ours.condition, stream=stream))


# -- (d) memory, in a process of its own ---------------------------------------------------------


def proc_status_mib(field_name: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def memory_child(args: argparse.Namespace) -> None:
    """Ours only: build, then ``--memory-requests`` requests in batches of 8 (the (a) lines
    in turn, the (a) token budget); prints the figures as JSON on its last line."""
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    parts = random_parts(args.seed, args.size)
    ours = Ours(parts)
    lengths = [len(ours.text_ids(line)) for line in LINES]
    ours.hold(ratio_for(lengths, args.tokens))
    figures = {
        "weights_mib": sum(
            p.numel() * p.element_size()
            for m in (parts.lm, parts.flow, parts.hift)
            for p in m.parameters()
        )
        / 2**20,
        "load_rss_mib": proc_status_mib("VmRSS"),
        "load_hwm_mib": proc_status_mib("VmHWM"),
    }
    lines = [LINES[i % len(LINES)] for i in range(args.memory_requests)]
    start = time.perf_counter()
    rss_after: list[float] = []
    for begin in range(0, len(lines), BATCH):
        batch = Ours.requests(lines[begin : begin + BATCH])
        results = ours.generator.synthesize(batch)
        if any(r.error is not None for r in results):
            raise SystemExit(f"ours failed: {next(r.error for r in results if r.error)}")
        rss_after.append(proc_status_mib("VmRSS"))
        if begin == 0:
            figures["first_batch_hwm_mib"] = proc_status_mib("VmHWM")
    figures.update(
        requests=float(len(lines)),
        seconds=time.perf_counter() - start,
        hwm_mib=proc_status_mib("VmHWM"),
        rss_first_batch_mib=rss_after[0],
        rss_end_mib=rss_after[-1],
        rss_max_between_mib=max(rss_after),
    )
    print(json.dumps(figures))


def memory_run(args: argparse.Namespace) -> dict[str, float]:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--memory-child",
        f"--size={args.size}",
        f"--seed={args.seed}",
        f"--threads={args.threads}",
        f"--tokens={args.tokens}",
        f"--memory-requests={args.memory_requests}",
    ]
    result = subprocess.run(command, check=True, capture_output=True, text=True)
    figures: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    return figures


# -- the report ---------------------------------------------------------------------------------


def fastest(runs: Runs, key: str, flip: bool = False) -> str:
    """The ratio of each side's fastest run (ours / reference, or its inverse)."""
    ref, mine = (min(run[key] for run in runs[side]) for side in ("reference", "ours"))
    return f"{(ref / mine if flip else mine / ref):.2f}x"


def load_average() -> str:
    return ", ".join(f"{x:.1f}" for x in os.getloadavg())


def rt(audio: float, seconds: float) -> str:
    return f"{audio / seconds:6.2f}x" if seconds > 0 else "    n/a"


def verdict(value: float, target: float, higher_is_better: bool) -> str:
    met = value >= target if higher_is_better else value <= target
    return "met" if met else "MISSED"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=None, help="runs per scenario (3)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: debug sizes, few tokens, 1 repeat"
    )
    parser.add_argument("--size", choices=("full", "debug"), default=None, help="(full)")
    parser.add_argument(
        "--tokens", type=int, default=None, help="mean speech tokens per (a) line (60)"
    )
    parser.add_argument(
        "--stream-tokens", type=int, default=None, help="speech tokens of the (b) line (150)"
    )
    parser.add_argument("--memory-requests", type=int, default=None, help="(d); 0: skip (100)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    quick = args.quick
    args.size = args.size or ("debug" if quick else "full")
    args.repeats = args.repeats or (1 if quick else 3)
    args.tokens = args.tokens or (30 if quick else 60)
    args.stream_tokens = args.stream_tokens or (60 if quick else 150)
    if args.memory_requests is None:
        args.memory_requests = 16 if quick else 100
    return args


def main() -> None:
    args = parse_args()
    if args.memory_child:
        memory_child(args)
        return
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    began = time.perf_counter()
    gemm = gemm_flops_per_second()
    try:
        version = importlib.metadata.version("cosyvoice-minicpmo")
    except importlib.metadata.PackageNotFoundError:
        version = "?"
    print(
        f"torch {torch.__version__}, {args.threads} thread(s), fp32 GEMM rate "
        f"{gemm / 1e9:.0f} GFLOP/s; reference cosyvoice-minicpmo {version}; "
        f"{args.size}-size random weights (seed {args.seed}); {args.repeats} repeat(s); "
        f"load average {load_average()}",
        flush=True,
    )
    parts = random_parts(args.seed, args.size)
    ours = Ours(parts)
    with tempfile.TemporaryDirectory(prefix="bench_tts_") as folder:
        reference = Reference(parts, Path(folder))  # the LM body passes through the folder
    ours.instrument()
    reference.instrument()
    print(f"built both sides in {time.perf_counter() - began:.0f} s", flush=True)
    print(f"same weights: {same_weights_check(ours, reference, LINES[0], 12)}", flush=True)
    warm_up(ours, reference, LINES[1], 30)
    print(f"reference LM thread: torch.get_num_threads() = {sorted(CLOCK.lm_threads)}")

    lengths = [len(ours.text_ids(line)) for line in LINES]
    BUDGET.ratio = ratio_for(lengths, args.tokens)
    ours.hold(BUDGET.ratio)
    words = [len(line.split()) for line in LINES]
    print(
        f"\n(a) 8 lines of {min(words)}-{max(words)} words, {lengths} text tokens (the debug "
        f"tokenizer: ~2.5 a word); token/text ratio min = max = {BUDGET.ratio:.4f}: "
        f"{caps(lengths, BUDGET.ratio)} speech-token steps per line on both sides; the "
        "reference line by line (CosyVoice2Model.tts, stream=False), ours as one batch:",
        flush=True,
    )
    a_median, a_runs, a_tokens = offline_runs(ours, reference, list(LINES), args.repeats)
    print(f"  speech tokens per line: {a_tokens}")

    long_ids = ours.text_ids(LONG_LINE)
    BUDGET.ratio = ratio_for([len(long_ids)], args.stream_tokens)
    ours.hold(BUDGET.ratio)
    print(
        f"\n(b) streaming one {len(LONG_LINE.split())}-word line ({len(long_ids)} text tokens), "
        f"{caps([len(long_ids)], BUDGET.ratio)[0]} speech tokens; the reference: "
        "CosyVoice2Model.tts(stream=True) (LM thread, 0.1 s polling, the flow re-run over "
        "the whole prefix at each 25-token hop); ours: stream() (25, 50, 100-token chunks, "
        "flow and HiFT state kept):",
        flush=True,
    )
    b_median, b_runs = stream_runs(ours, reference, LONG_LINE, args.repeats)

    memory: dict[str, float] | None = None
    if args.memory_requests > 0:
        print(
            f"\n(d) ours alone in a fresh process: {args.memory_requests} requests in batches "
            f"of {BATCH} (the (a) lines and budget)...",
            flush=True,
        )
        memory = memory_run(args)
        print(f"  {json.dumps({k: round(v, 1) for k, v in memory.items()})}")
    print_summary(args.repeats, a_median, a_runs, b_median, b_runs, memory)
    print(
        f"whole run {time.perf_counter() - began:.0f} s; load average now {load_average()} "
        "(other work on the machine slows both sides)"
    )


def print_summary(
    repeats: int,
    a_median: Medians,
    a_runs: Runs,
    b_median: Medians,
    b_runs: Runs,
    memory: dict[str, float] | None,
) -> None:
    throughput = paired_ratios(a_runs, "reference", "ours", "total")
    first = paired_ratios(b_runs, "ours", "reference", "first")
    total = paired_ratios(b_runs, "ours", "reference", "total")
    ref_a, ours_a = a_median["reference"], a_median["ours"]
    ref_b, ours_b = b_median["reference"], b_median["ours"]
    print(f"\nsummary: medians of {repeats} run(s); ratios paired run by run")
    print(f"  {'':<40}{'reference':>11}{'ours':>9}{'ratio':>9}   target")
    rows = [
        ("(a) 8 lines: total time, s", "total", ref_a, ours_a, throughput, 4.0, True),
        ("(b) streaming: first audio chunk, s", "first", ref_b, ours_b, first, 0.5, False),
        ("(b) streaming: total time, s", "total", ref_b, ours_b, total, 0.6, False),
    ]
    for name, key, ref, mine, ratios, target, higher in rows:
        ratio = statistics.median(ratios)
        goal = f">= {target:g}x throughput (ref/ours)" if higher else f"<= {target:g}x"
        print(
            f"  {name:<40}{ref[key]:11.2f}{mine[key]:9.2f}{ratio:8.2f}x   {goal}: "
            f"{verdict(ratio, target, higher)}"
        )
    print(f"  (a) throughput, reference time / ours: {describe_ratios(throughput)}")
    print(f"  (b) first chunk, ours / reference: {describe_ratios(first)}")
    print(f"  (b) total, ours / reference: {describe_ratios(total)}")
    best = [
        ("(a) throughput", fastest(a_runs, "total", flip=True)),
        ("(b) first chunk", fastest(b_runs, "first")),
        ("(b) total", fastest(b_runs, "total")),
    ]
    print("  fastest runs' ratios (the least disturbed): " + ", ".join(f"{n} {r}" for n, r in best))
    print("  (c) x-real-time per stage (audio seconds / stage seconds):")
    print(f"      {'':<42}{'LM':>8}{'flow':>8}{'HiFT':>8}{'all':>8}")
    stage_rows = [
        ("(a) reference, line by line", ref_a),
        ("(a) ours, batch of 8", ours_a),
        ("(b) reference streaming (LM: its thread)", ref_b),
        ("(b) ours streaming (LM: the rest)", ours_b),
    ]
    for name, f in stage_rows:
        cells = "".join(f"{rt(f['audio'], f[k]):>8}" for k in ("lm", "flow", "hift", "total"))
        print(f"      {name:<42}{cells}")
    for name, f in stage_rows[:2]:
        shares = ", ".join(f"{k} {100 * f[k] / f['total']:.0f} %" for k in ("lm", "flow", "hift"))
        per_token = ", ".join(
            f"{k} {1000 * f[k] / f['tokens']:.0f}" for k in ("lm", "flow", "hift")
        )
        print(f"      {name}: {shares} of the time; ms per speech token: {per_token}")
    if memory is not None:
        print(
            f"  (d) ours, {memory['requests']:.0f} requests in {memory['seconds']:.0f} s: peak "
            f"RSS (VmHWM) {memory['hwm_mib']:.0f} MiB (after loading {memory['load_hwm_mib']:.0f}"
            f", after the first batch {memory['first_batch_hwm_mib']:.0f}); RSS after the first "
            f"batch {memory['rss_first_batch_mib']:.0f} MiB, after the last "
            f"{memory['rss_end_mib']:.0f}; weights {memory['weights_mib']:.0f} MiB (fp32)"
        )
        print(
            "      (VmHWM of /proc/self/status, which exec resets; not ru_maxrss, which keeps "
            "the forking parent's RSS; not tracemalloc, which sees Python's allocator only, "
            "not torch's tensor memory)"
        )
    print(
        "  the reference streams as its code does: its LM in a thread beside the flow and "
        "HiFT (both on the same torch threads), the tokens polled every 0.1 s"
    )


if __name__ == "__main__":
    main()
