"""The CosyVoice 2 speech LM against the official code, on the same random weights."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from models.tts.cosyvoice2 import LMRequest, SamplingConfig, SpeechLM, generate
from models.tts.cosyvoice2.decode import EOS_BEFORE_MIN_LENGTH
from models.tts.cosyvoice2.lm_config import SpeechLMConfig, debug
from tests.models.cosyvoice_reference import reference_lm


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, SpeechLM]:
    """(reference Qwen2LM, ours) with the same random weights, debug size."""
    config = debug()
    reference = reference_lm(config, tmp_path_factory.mktemp("qwen2"), seed=0)
    ours = SpeechLM.from_reference_state(reference.state_dict(), config)
    return reference, ours


def _prompt(seed: int, text: int, prompt_text: int = 0, speech: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "text": torch.randint(0, 1000, (text,), generator=g),
        "prompt_text": torch.randint(0, 1000, (prompt_text,), generator=g),
        "prompt_speech": torch.randint(0, 6561, (speech,), generator=g),
    }


def _reference_tokens(reference: Any, prompt: dict[str, torch.Tensor]) -> list[int]:
    text, prompt_text, speech = prompt["text"], prompt["prompt_text"], prompt["prompt_speech"]
    return list(
        reference.inference(
            text=text[None],
            text_len=torch.tensor([text.numel()]),
            prompt_text=prompt_text[None],
            prompt_text_len=torch.tensor([prompt_text.numel()]),
            prompt_speech_token=speech[None],
            prompt_speech_token_len=torch.tensor([speech.numel()]),
            embedding=torch.zeros(1, 192),
        )
    )


def test_reference_state_loads_strictly(pair: tuple[Any, SpeechLM]) -> None:
    reference, _ = pair
    state = reference.state_dict()
    assert "llm.model.lm_head.weight" in state  # the text head, which we never compute
    with pytest.raises(ValueError, match="unexpected"):
        SpeechLM.from_reference_state({**state, "extra.weight": torch.zeros(1)}, debug())
    missing = {k: v for k, v in state.items() if k != "llm_decoder.bias"}
    with pytest.raises(ValueError, match="missing"):
        SpeechLM.from_reference_state(missing, debug())


def test_logits_equal_the_reference(pair: tuple[Any, SpeechLM]) -> None:
    reference, ours = pair
    prompt = _prompt(1, text=9, prompt_text=4, speech=12)
    with torch.inference_mode():
        embeds = ours.prompt_embeddings(
            torch.cat([prompt["prompt_text"], prompt["text"]]), prompt["prompt_speech"]
        )
        hidden = reference.llm.model(
            inputs_embeds=embeds[None], output_hidden_states=True, return_dict=True
        ).hidden_states[-1]
        expected = reference.llm_decoder(hidden[:, -1]).log_softmax(dim=-1)
        length = embeds.shape[0]
        step = ours.step(
            embeds[None], torch.ones(1, length, dtype=torch.long), torch.arange(length)[None]
        )
    difference = float((step.logp - expected).abs().max())
    print(f"speech LM log-probabilities: max abs difference {difference:.2e}")
    assert difference <= 1e-4


def test_greedy_tokens_equal_the_reference(pair: tuple[Any, SpeechLM]) -> None:
    reference, ours = pair

    def argmax(scores: torch.Tensor, decoded: list[int], sampling: int) -> torch.Tensor:
        return scores.argmax().reshape(1)

    reference.sampling = argmax
    greedy = SamplingConfig(greedy=True)
    try:
        for seed in range(4):
            prompt = _prompt(seed, text=3 + seed, prompt_text=2, speech=5)
            expected = _reference_tokens(reference, prompt)
            [result] = generate(ours, [LMRequest(**prompt, sampling=greedy)])
            assert result.error is None
            assert result.tokens == expected, seed
    finally:
        reference.sampling = _ras()


def test_sampled_tokens_equal_the_reference_with_the_same_seed(pair: tuple[Any, SpeechLM]) -> None:
    reference, ours = pair
    reference.sampling = _ras()
    for seed in (3, 11):
        prompt = _prompt(seed, text=4, speech=6)
        torch.manual_seed(seed)
        expected = _reference_tokens(reference, prompt)
        [result] = generate(ours, [LMRequest(**prompt, seed=seed)])
        assert result.tokens == expected, seed


def test_a_batch_gives_each_request_its_own_result(pair: tuple[Any, SpeechLM]) -> None:
    _, ours = pair
    greedy = SamplingConfig(greedy=True)
    prompts = [_prompt(s, text=2 + 2 * s, prompt_text=s, speech=3 * s) for s in range(5)]
    alone = [generate(ours, [LMRequest(**p, sampling=greedy)])[0] for p in prompts]
    together = generate(ours, [LMRequest(**p, sampling=greedy) for p in prompts])
    assert [r.tokens for r in together] == [r.tokens for r in alone]
    # sampling state is per request: the same seed alone or in a batch, the same tokens
    sampled = [LMRequest(**p, seed=7) for p in prompts[:3]]
    assert [r.tokens for r in generate(ours, sampled)] == [
        generate(ours, [r])[0].tokens for r in sampled
    ]


def test_length_limits_and_early_end_of_speech(pair: tuple[Any, SpeechLM]) -> None:
    _, ours = pair
    prompt = _prompt(2, text=3)
    [result] = generate(ours, [LMRequest(**prompt, sampling=SamplingConfig(greedy=True))])
    assert len(result.tokens) <= 60  # at most int(20 x 3) steps
    assert result.capped or result.tokens  # random weights rarely end by themselves
    # end of speech made certain: greedy then fails this line only, before the minimum length
    eos = ours.config.eos
    saved = ours.llm_decoder.bias.detach().clone()
    try:
        with torch.no_grad():
            ours.llm_decoder.bias[eos] = 1e4
        first, second = generate(
            ours,
            [
                LMRequest(**prompt, sampling=SamplingConfig(greedy=True)),
                LMRequest(**prompt, sampling=SamplingConfig(greedy=True, min_ratio=0.0)),
            ],
        )
    finally:
        with torch.no_grad():
            ours.llm_decoder.bias.copy_(saved)
    assert first.error == EOS_BEFORE_MIN_LENGTH and first.tokens == []
    assert second.error is None and second.tokens == [] and not second.capped


def _ras() -> Any:
    from tests.models.cosyvoice_reference import reference_module

    return reference_module("utils.common").ras_sampling


@pytest.mark.slow
def test_full_size_logits_equal_the_reference(tmp_path: Path) -> None:
    config = SpeechLMConfig()
    reference = reference_lm(config, tmp_path, seed=0)
    ours = SpeechLM.from_reference_state(reference.state_dict(), config)
    test_logits_equal_the_reference((reference, ours))
