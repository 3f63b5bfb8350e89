"""`SpeechLM`: text (and a voice prompt) to S3 speech tokens, the CosyVoice 2 way.

A transformers ``Qwen2Model`` body reads input embeddings; three small modules of its own
make and read them (see `SpeechLMConfig`). Only the body's final hidden states are used: the
text LM head of the official checkpoint (151,936 outputs a step) is never computed.

The official ``llm.pt`` is a state dict whose keys `reference_key_map` maps onto ours:
``llm.model.model.*`` -> ``body.*``; ``llm_embedding``, ``speech_embedding``, ``llm_decoder``
as they are; ``llm.model.lm_head.weight`` (the text head) is dropped.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from models.tts.cosyvoice2.lm_config import SpeechLMConfig

SOS = 0  # rows of `SpeechLM.llm_embedding`
TASK_ID = 1
TEXT_HEAD_KEY = "llm.model.lm_head.weight"
REFERENCE_BODY_PREFIX = "llm.model.model."


@dataclass
class LMStep:
    """One forward pass of the LM.

    Attributes:
        logp: log-probabilities of the next speech token at the last position ``[B, V + 3]``.
        cache: the body's key/value cache, holding every position so far.
    """

    logp: torch.Tensor
    cache: Any


class SpeechLM(nn.Module):
    """The speech LM; `step` runs it on new input embeddings with a key/value cache."""

    def __init__(self, config: SpeechLMConfig) -> None:
        super().__init__()
        from transformers import Qwen2Model

        self.config = config
        self.body = Qwen2Model(config.qwen2_config())
        self.llm_embedding = nn.Embedding(2, config.hidden)
        self.speech_embedding = nn.Embedding(config.decoder_size, config.hidden)
        self.llm_decoder = nn.Linear(config.hidden, config.decoder_size)
        self._cache_argument = _cache_argument(self.body)

    def prompt_embeddings(
        self, text: torch.Tensor, prompt_speech: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``[sos, text, task id, prompt speech]`` embedded: ``[L, H]``.

        Args:
            text: text token ids ``[T]`` (the prompt's text first, then the text to speak).
            prompt_speech: the voice prompt's speech tokens ``[P]`` (None or empty: none).
        """
        parts = [
            self.llm_embedding.weight[SOS : SOS + 1],
            self.body.embed_tokens(text),
            self.llm_embedding.weight[TASK_ID : TASK_ID + 1],
        ]
        if prompt_speech is not None and prompt_speech.numel():
            parts.append(self.speech_embedding(prompt_speech))
        return torch.cat(parts, dim=0)

    def step(
        self,
        embeds: torch.Tensor,
        attention_mask: torch.Tensor,
        position_ids: torch.Tensor,
        cache: Any = None,
    ) -> LMStep:
        """Run the body on ``embeds`` after what ``cache`` holds.

        Args:
            embeds: new input embeddings ``[B, L, H]``.
            attention_mask: 1 for real positions, 0 for padding, over the cached and the new
                positions ``[B, past + L]``.
            position_ids: ``[B, L]`` (padding never advances a request's positions).
            cache: the previous step's cache, or None at the first step.
        """
        from transformers import DynamicCache

        if cache is None:
            cache = DynamicCache()
        outputs = self.body(
            inputs_embeds=embeds,
            attention_mask=attention_mask,
            position_ids=position_ids,
            use_cache=True,
            **{self._cache_argument: cache},
        )
        hidden = outputs.last_hidden_state[:, -1]  # [B, H]
        logp = self.llm_decoder(hidden).log_softmax(dim=-1)
        # the output names its cache as the input does (reading the old name warns in 5.x)
        return LMStep(logp, getattr(outputs, self._cache_argument))

    @classmethod
    def from_reference_state(
        cls, state: dict[str, torch.Tensor], config: SpeechLMConfig
    ) -> SpeechLM:
        """Build from an official ``llm.pt`` state dict (strict: every key is used or known).

        Raises:
            ValueError: keys are missing or unexpected (the message lists them).
        """
        model = cls(config)
        mapped = reference_key_map(state)
        missing, unexpected = model.load_state_dict(mapped, strict=False)
        if missing or unexpected:
            raise ValueError(
                "speech LM state dict does not fit the config: "
                f"missing {sorted(missing)[:8]}, unexpected {sorted(unexpected)[:8]}"
            )
        return model.eval()


def reference_key_map(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Official ``llm.pt`` keys -> `SpeechLM` keys (the text head is dropped)."""
    mapped = {}
    for key, value in state.items():
        if key == TEXT_HEAD_KEY:
            continue
        if key.startswith(REFERENCE_BODY_PREFIX):
            mapped["body." + key[len(REFERENCE_BODY_PREFIX) :]] = value
        else:
            mapped[key] = value
    return mapped


def _cache_argument(body: nn.Module) -> str:
    """The name transformers gives the cache argument: ``cache`` where it exists (5.x
    releases, which deprecate the older name), else ``past_key_values`` (4.x)."""
    parameters = inspect.signature(body.forward).parameters
    return "cache" if "cache" in parameters else "past_key_values"
