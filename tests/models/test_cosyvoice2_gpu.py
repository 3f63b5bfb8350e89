"""The CosyVoice 2 generator on CUDA (skipped without a GPU): float32 gives the CPU's greedy
tokens, bfloat16 and float16 run the LM and the flow in half precision with HiFT in float32,
and streaming works there too."""

from __future__ import annotations

import numpy as np
import pytest

from models.tts.cosyvoice2.loading import random_generator
from models.tts.generator import SynthesisRequest

pytestmark = [pytest.mark.gpu, pytest.mark.filterwarnings("ignore:cosyvoice2. a debug RANDOMLY")]


def _requests() -> list[SynthesisRequest]:
    texts = ["hello.", "a longer line, with a comma.", "ok"]
    return [
        SynthesisRequest(f"{i}", text, speaker="random", greedy=True, seed=i)
        for i, text in enumerate(texts)
    ]


def test_cuda_float32_gives_the_cpu_tokens() -> None:
    cpu = random_generator("cpu").synthesize(_requests())
    cuda = random_generator("cuda").synthesize(_requests())
    for a, b in zip(cpu, cuda, strict=True):
        assert a.error is None and b.error is None
        same = np.mean(np.array(a.speech_tokens) == np.array(b.speech_tokens))
        assert same > 0.9, same  # kernels differ in the last bits; greedy ties may flip
        assert b.audio.dtype == np.float32 and np.isfinite(b.audio).all()


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_half_precision_runs_and_streams(dtype: str) -> None:
    generator = random_generator("cuda", dtype=dtype)
    results = generator.synthesize(_requests())
    assert all(r.error is None and r.audio.size and np.isfinite(r.audio).all() for r in results)
    chunks = list(
        generator.stream(SynthesisRequest("s", "hello there, streamed.", speaker="random"))
    )
    final = chunks[-1].result
    assert final is not None and final.audio.size == 960 * len(final.speech_tokens)
