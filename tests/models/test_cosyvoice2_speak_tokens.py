"""`CosyVoice2Generator` as a `TokenVocoder` on random debug weights: voicing the tokens of a
`synthesize` line gives that line's audio, a batch gives each line its lone result, the voice
really conditions the output, `speech_tokens` are the prompt tokens the LM saw, and bad lines
get their own errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.tts.cosyvoice2.loading import random_generator
from models.tts.cosyvoice2.model import CosyVoice2Generator
from models.tts.generator import Synthesis, SynthesisRequest, TokenRequest, TokenVocoder, Voice

SAMPLE = Path(__file__).resolve().parents[2] / "audiotok" / "assets" / "sample_en.flac"
pytestmark = pytest.mark.filterwarnings("ignore:cosyvoice2. a debug RANDOMLY")


@pytest.fixture(scope="module")
def generator() -> CosyVoice2Generator:
    return random_generator(seed=3)


@pytest.fixture(scope="module")
def wave() -> tuple[np.ndarray, int]:
    import soundfile as sf

    samples, rate = sf.read(SAMPLE, dtype="float32")
    return samples, rate


@pytest.fixture(scope="module")
def voice(wave: tuple[np.ndarray, int]) -> Voice:
    samples, rate = wave
    return Voice(samples[: 3 * rate], rate, "a short prompt", "first three seconds")


@pytest.fixture(scope="module")
def other_voice(wave: tuple[np.ndarray, int]) -> Voice:
    samples, rate = wave
    return Voice(samples[3 * rate : 5 * rate], rate, "", "the next two seconds")


@pytest.fixture(scope="module")
def line(generator: CosyVoice2Generator, voice: Voice) -> Synthesis:
    text = "hello there."
    assert len(generator.parts.text.split(text)) == 1  # one piece: one flow and HiFT item
    result = generator.synthesize([SynthesisRequest("a", text, voice, greedy=True, seed=11)])[0]
    assert result.error is None and len(result.speech_tokens) > 5
    return result


def test_the_generator_is_a_token_vocoder_at_its_own_rate(generator: CosyVoice2Generator) -> None:
    assert isinstance(generator, TokenVocoder)
    assert generator.sample_rate == 24000


def test_the_tokens_of_a_synthesized_line_give_back_its_audio(
    generator: CosyVoice2Generator, voice: Voice, line: Synthesis
) -> None:
    got = generator.speak_tokens([TokenRequest("a", line.speech_tokens, voice, seed=11)])[0]
    assert got.error is None
    assert got.speech_tokens == line.speech_tokens and got.text_tokens == []
    assert got.prompt_speech_tokens == line.prompt_speech_tokens
    assert got.mel is not None and line.mel is not None
    np.testing.assert_allclose(got.mel, line.mel, atol=1e-5)
    assert got.audio.dtype == np.float32 and got.audio.shape == line.audio.shape
    np.testing.assert_allclose(got.audio, line.audio, atol=1e-5)


def test_the_voice_and_the_seed_condition_the_audio(
    generator: CosyVoice2Generator, voice: Voice, other_voice: Voice, line: Synthesis
) -> None:
    tokens = line.speech_tokens
    other = generator.speak_tokens([TokenRequest("b", tokens, other_voice, seed=11)])[0]
    reseeded = generator.speak_tokens([TokenRequest("c", tokens, voice, seed=12)])[0]
    for result in (other, reseeded):
        assert result.error is None and result.audio.shape == line.audio.shape
        assert float(np.abs(result.audio - line.audio).max()) > 1e-3
    assert other.mel is not None and line.mel is not None
    assert float(np.abs(other.mel - line.mel).max()) > 1e-3  # the flow hears the timbre


def test_a_batch_gives_each_line_its_lone_result(
    generator: CosyVoice2Generator, voice: Voice, other_voice: Voice, line: Synthesis
) -> None:
    requests = [
        TokenRequest("a", line.speech_tokens, voice, seed=1),
        TokenRequest("b", line.speech_tokens[: len(line.speech_tokens) // 2], other_voice, seed=2),
        TokenRequest("c", [5, 6, 7, 8, 9, 10, 11, 12], None, seed=3),  # the built-in speaker
    ]
    together = generator.speak_tokens(requests)
    for request, batched in zip(requests, together, strict=True):
        alone = generator.speak_tokens([request])[0]
        assert batched.error is None and batched.id == request.id
        assert batched.audio.size == 480 * 2 * len(request.tokens)  # 2 mel frames a token
        np.testing.assert_allclose(batched.audio, alone.audio, atol=1e-4)


def test_speech_tokens_are_the_prompt_tokens_the_lm_saw(
    generator: CosyVoice2Generator, voice: Voice, line: Synthesis
) -> None:
    tokens = generator.speech_tokens(voice.wave, voice.sample_rate)
    assert len(tokens) >= len(line.prompt_speech_tokens) > 50  # 3 s at 25 a second, trimmed
    assert tokens[: len(line.prompt_speech_tokens)] == line.prompt_speech_tokens
    half_rate = generator.speech_tokens(voice.wave[::2], voice.sample_rate // 2)
    assert abs(len(half_rate) - len(tokens)) <= 1  # any input rate: the same 25 a second


def test_bad_lines_get_their_own_errors_and_the_others_are_spoken(
    generator: CosyVoice2Generator, voice: Voice
) -> None:
    vocab = generator.parts.flow.config.vocab
    short = Voice(voice.wave[:1000], voice.sample_rate, "", "too short")
    requests = [
        TokenRequest("empty", [], voice),
        TokenRequest("range", [1, 2, vocab], voice),
        TokenRequest("negative", [-1, 2], voice),
        TokenRequest("short", [1, 2, 3], short),
        TokenRequest("ok", [1, 2, 3, 4], voice, seed=0),
    ]
    results = generator.speak_tokens(requests)
    reasons = [r.error.reason if r.error else None for r in results]
    assert reasons == [
        "no_tokens",
        "token_out_of_range",
        "token_out_of_range",
        "voice_too_short",
        None,
    ]
    assert all(r.audio.size == 0 for r in results[:4])
    assert results[4].audio.size == 480 * 2 * 4
