"""The official CosyVoice 2 code (``cosyvoice-minicpmo``) as a parity reference, on random
weights: imported with a torchaudio stand-in, its import-time logging setup undone."""

from __future__ import annotations

import importlib
import logging
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch

from models.tts.cosyvoice2.lm_config import SpeechLMConfig
from tests.stand_ins import matcha_modules, stand_ins, torchaudio_modules


def reference_module(name: str) -> ModuleType:
    """``cosyvoice.<name>``; skips the test when the reference package is not installed."""
    pytest.importorskip("cosyvoice", reason="reference: pip install --no-deps cosyvoice-minicpmo")
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    with stand_ins({**torchaudio_modules(), **matcha_modules()}):
        module = importlib.import_module(f"cosyvoice.{name}")
    root.setLevel(level)  # the reference calls logging.basicConfig(level=DEBUG) on import
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
    return module


def reference_lm(config: SpeechLMConfig, folder: Path, seed: int, sampling: Any = None) -> Any:
    """The reference ``Qwen2LM`` with seeded random weights of ``config``'s shape; its Qwen2
    body is saved to ``folder`` first (the reference loads it with ``from_pretrained``)."""
    from transformers import Qwen2ForCausalLM

    llm = reference_module("llm.llm")
    common = reference_module("utils.common")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        Qwen2ForCausalLM(config.qwen2_config()).save_pretrained(folder)
        model = llm.Qwen2LM(
            llm_input_size=config.hidden,
            llm_output_size=config.hidden,
            speech_token_size=config.speech_vocab,
            llm=llm.Qwen2Encoder(str(folder)),
            sampling=sampling or common.ras_sampling,
        )
        for module in (model.llm_embedding, model.speech_embedding, model.llm_decoder):
            for parameter in module.parameters():
                torch.nn.init.normal_(parameter, std=0.5)  # spread logits: varied tokens
    _attend_to_the_whole_cache(model.llm)
    return model.eval()


def _attend_to_the_whole_cache(encoder: Any) -> None:
    """Run the reference's decoding steps with no attention mask (one request, no padding:
    every cached position is attended, as its code intends).

    Its ``forward_one_step`` passes the last row of an ``[L, L]`` mask over the new inputs
    only; with transformers 5.x that one-position mask changes the attention over the cache,
    and its greedy tokens part from its own full-sequence forward pass after some steps (step
    19 of the first test prompt). Without a mask, the two agree.
    """

    def forward_one_step(xs: torch.Tensor, masks: torch.Tensor, cache: Any = None) -> Any:
        outs = encoder.model(
            inputs_embeds=xs,
            output_hidden_states=True,
            return_dict=True,
            use_cache=True,
            past_key_values=cache,
        )
        return outs.hidden_states[-1], outs.past_key_values

    encoder.forward_one_step = forward_one_step
