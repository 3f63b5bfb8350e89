"""Speech-token generation: many requests in one batch, each with its own sampling state.

Each `LMRequest` carries its text, voice prompt, `SamplingConfig` and random generator, so
requests batched together never share settings. The batch is left-padded once for the prompt
pass; then every step feeds one new embedding per live request, and finished requests leave
the batch (their rows are dropped from the key/value cache).

Per request, the rules are the official model's:
- at most ``int(max_ratio * len(text))`` steps, and end of speech is not accepted before step
  ``int(min_ratio * len(text))`` (``len(text)`` without the prompt's text);
- sampling is repetition-aware: nucleus sampling (top-p 0.8 within the top 25), but when the
  drawn token already fills ``tau`` of the last ``window`` tokens, a draw from the whole
  distribution replaces it; before the minimum length an end of speech is drawn again, up to
  100 times. Greedy decoding takes the arg-max (lowest id on ties); an end of speech on top
  before the minimum length is then this request's error (`LMResult.error`), not the batch's;
- the two ids after end of speech are skipped and not fed back: the step's input is fed again,
  as the official code does.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import torch

from models.tts.cosyvoice2.lm import LMStep, SpeechLM

EOS_BEFORE_MIN_LENGTH = "eos_before_min_length"


@dataclass(frozen=True)
class SamplingConfig:
    """How one request picks its tokens (the official defaults)."""

    greedy: bool = False
    top_p: float = 0.8
    top_k: int = 25
    window: int = 10
    tau: float = 0.1
    min_ratio: float = 2.0
    max_ratio: float = 20.0
    eos_retries: int = 100


@dataclass
class LMRequest:
    """One line to generate.

    Attributes:
        text: token ids of the text to speak ``[T]``.
        prompt_text: token ids of the voice prompt's transcript ``[Tp]`` (may be empty).
        prompt_speech: the voice prompt's speech tokens ``[P]`` (may be empty).
        sampling: this request's settings.
        seed: seeds this request's own generator (None: a random seed).
    """

    text: torch.Tensor
    prompt_text: torch.Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.long))
    prompt_speech: torch.Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.long))
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    seed: int | None = None


@dataclass
class LMResult:
    """What one request produced.

    Attributes:
        tokens: the speech tokens (ids below end of speech).
        capped: generation stopped at the maximum length, not at an end of speech.
        error: None, or `EOS_BEFORE_MIN_LENGTH` (with ``detail``).
    """

    tokens: list[int]
    capped: bool = False
    error: str | None = None
    detail: str = ""


@dataclass(eq=False)
class _Live:
    """A request's decoding state."""

    index: int
    min_len: int
    max_len: int
    config: SamplingConfig
    generator: torch.Generator
    position: int  # the position the next input takes
    fed: torch.Tensor  # the embedding fed at the last step [H]
    steps: int = 0
    tokens: list[int] = field(default_factory=list)


@dataclass
class TokenEvent:
    """What one request got from one decoding step.

    Attributes:
        index: the request's position in the batch given to `decode`.
        token: the speech token this step added (None: none, e.g. a skipped special id).
        result: the request's `LMResult` when this step finished it, else None.
    """

    index: int
    token: int | None
    result: LMResult | None = None


def generate(lm: SpeechLM, requests: Sequence[LMRequest]) -> list[LMResult]:
    """Speech tokens for every request, decoded together."""
    results: list[LMResult | None] = [None] * len(requests)
    for events in decode(lm, requests):
        for event in events:
            if event.result is not None:
                results[event.index] = event.result
    return [result for result in results if result is not None]


def decode(lm: SpeechLM, requests: Sequence[LMRequest]) -> Iterator[list[TokenEvent]]:
    """Decode every request together, yielding each step's events (one per live request), so
    a streaming caller can vocode tokens while later ones are generated."""
    if not requests:
        return
    with torch.inference_mode():
        live, step, mask = _prefill(lm, requests)
        while live:
            events = [_advance(lm, r, logp) for r, logp in zip(live, step.logp, strict=True)]
            yield events
            keep = [i for i, event in enumerate(events) if event.result is None]
            if len(keep) < len(live):
                live = [live[i] for i in keep]
                if not live:
                    break
                step.cache.batch_select_indices(torch.tensor(keep))
                mask = mask[keep]
            embeds = torch.stack([r.fed for r in live])[:, None]  # [B, 1, H]
            mask = torch.cat([mask, mask.new_ones(len(live), 1)], dim=1)
            positions = torch.tensor([[r.position] for r in live], device=mask.device)
            step = lm.step(embeds, mask, positions, step.cache)
            for r in live:
                r.position += 1


def _prefill(
    lm: SpeechLM, requests: Sequence[LMRequest]
) -> tuple[list[_Live], LMStep, torch.Tensor]:
    """The prompt pass: every request's ``[sos, text, task, prompt speech]``, left-padded."""
    device = lm.llm_decoder.weight.device
    prompts = [
        lm.prompt_embeddings(
            torch.cat([r.prompt_text, r.text]).to(device), r.prompt_speech.to(device)
        )
        for r in requests
    ]
    width = max(p.shape[0] for p in prompts)
    embeds = prompts[0].new_zeros(len(prompts), width, prompts[0].shape[1])
    mask = torch.zeros(len(prompts), width, dtype=torch.long, device=device)
    positions = torch.zeros(len(prompts), width, dtype=torch.long, device=device)
    for row, prompt in enumerate(prompts):
        length = prompt.shape[0]
        embeds[row, width - length :] = prompt
        mask[row, width - length :] = 1
        positions[row, width - length :] = torch.arange(length)
    step = lm.step(embeds, mask, positions)
    live = []
    for index, (request, prompt) in enumerate(zip(requests, prompts, strict=True)):
        text_len = int(request.text.numel())
        generator = torch.Generator(device="cpu")
        if request.seed is None:
            generator.seed()
        else:
            generator.manual_seed(request.seed)
        live.append(
            _Live(
                index=index,
                min_len=int(text_len * request.sampling.min_ratio),
                max_len=int(text_len * request.sampling.max_ratio),
                config=request.sampling,
                generator=generator,
                position=prompt.shape[0],
                fed=prompt[-1],
            )
        )
    return live, step, mask


def _advance(lm: SpeechLM, live: _Live, logp: torch.Tensor) -> TokenEvent:
    """Pick ``live``'s next token from ``logp`` ``[V + 3]``."""
    eos = lm.config.eos
    if live.max_len <= 0:
        return TokenEvent(live.index, None, LMResult([], capped=True))
    ignore_eos = live.steps < live.min_len
    token = pick_token(
        logp.float().cpu(), live.tokens, live.config, live.generator, eos, ignore_eos
    )
    live.steps += 1
    if token is None:
        detail = f"end of speech at step {live.steps} of at least {live.min_len}"
        return TokenEvent(
            live.index, None, LMResult(live.tokens, error=EOS_BEFORE_MIN_LENGTH, detail=detail)
        )
    if token == eos:
        return TokenEvent(live.index, None, LMResult(live.tokens))
    added = None
    if token < eos:
        live.tokens.append(token)
        live.fed = lm.speech_embedding.weight[token]
        added = token
    if live.steps >= live.max_len:
        return TokenEvent(live.index, added, LMResult(live.tokens, capped=True))
    return TokenEvent(live.index, added)


def pick_token(
    logp: torch.Tensor,
    decoded: list[int],
    config: SamplingConfig,
    generator: torch.Generator,
    eos: int,
    ignore_eos: bool,
) -> int | None:
    """The next token from log-probabilities ``[V + 3]``; None when only end of speech comes
    while ``ignore_eos`` (greedy: at once; sampling: after ``eos_retries`` draws)."""
    if config.greedy:
        token = int(torch.argmax(logp))
        return None if ignore_eos and token == eos else token
    for _ in range(config.eos_retries + 1):
        token = repetition_aware_sample(logp, decoded, config, generator)
        if not (ignore_eos and token == eos):
            return token
    return None


def repetition_aware_sample(
    logp: torch.Tensor, decoded: list[int], config: SamplingConfig, generator: torch.Generator
) -> int:
    """Nucleus sampling, replaced by a draw from the whole distribution when the token would
    repeat too often within the last ``window`` tokens."""
    token = nucleus_sample(logp, config.top_p, config.top_k, generator)
    recent = decoded[-config.window :]
    if recent.count(token) >= config.window * config.tau:
        token = int(logp.softmax(dim=0).multinomial(1, replacement=True, generator=generator))
    return token


def nucleus_sample(logp: torch.Tensor, top_p: float, top_k: int, generator: torch.Generator) -> int:
    """A draw among the most probable tokens: taken in order while their running sum is under
    ``top_p`` and fewer than ``top_k`` are taken (the official rule, summed in float32 in the
    same order, so a shared seed gives the same draw)."""
    probs, order = logp.softmax(dim=0).sort(descending=True, stable=True)
    kept: list[torch.Tensor] = []
    total: torch.Tensor | float = 0.0
    for value in probs[:top_k]:
        if not total < top_p:
            break
        total = total + value
        kept.append(value)
    chosen = torch.stack(kept).multinomial(1, replacement=True, generator=generator)
    return int(order[chosen])
