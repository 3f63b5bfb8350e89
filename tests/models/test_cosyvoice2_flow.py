"""`CausalFlow` against the official ``CausalMaskedDiffWithXvec`` on the same seeded random
weights: strict state-dict loading, offline synthesis (full and chunk-masked attention, with
and without a prompt), padded batches, and incremental streaming.

Streaming, the official ``token2wav`` loop calls the flow on the whole prefix each time: every
chunk but the last with ``streaming=True, finalize=False`` (the chunk mask, the next
``pre_lookahead`` tokens as context), and the last with ``finalize=True`` and
``streaming=False``, i.e. it recomputes the whole sequence with full attention and keeps that
last piece. `CausalFlow.stream_step` keeps the chunk mask for the last piece too (it never
recomputes earlier frames), so its last piece is the last piece of ``inference(streaming=True)``,
not of the official loop's full-attention pass. That is a documented difference: the tests
compare the non-final pieces with the reference's own non-final calls, and the whole stream
with our chunk-masked ``inference``, but not the last piece with the official last call.
"""

from __future__ import annotations

import math
import time
from typing import Any

import pytest
import torch

from models.tts.cosyvoice2.flow import CausalFlow, FlowConfig, FlowOutput, cosyvoice2, debug
from tests.models.cosyvoice_reference import reference_module
from tests.models.test_cosyvoice2_flow_encoder import reference_encoder
from tests.models.test_cosyvoice2_flow_estimator import reference_estimator
from tests.models.test_cosyvoice2_flow_sampler import reference_cfm

PROMPT = 37  # prompt tokens: not a multiple of the 25-token chunk
NEW = 60  # new tokens offline
STREAM_NEW = 120  # new tokens streaming: pieces of 75 (prompt + hop), 25, 50 and the rest


def reference_flow(config: FlowConfig, seed: int) -> Any:
    """The reference flow built as ``cosyvoice2.yaml`` builds it, with ``config``'s sizes and
    seeded random weights everywhere (its own layers too), in eval mode."""
    module = reference_module("flow.flow")
    encoder = reference_encoder(config.encoder, seed=seed)
    decoder = reference_cfm(reference_estimator(config.estimator, seed=seed + 1), config.cfm)
    with torch.random.fork_rng(devices=[]):
        flow = module.CausalMaskedDiffWithXvec(
            input_size=config.token_width,
            output_size=config.mel_bins,
            spk_embed_dim=config.speaker_dim,
            vocab_size=config.vocab,
            token_mel_ratio=config.token_mel_ratio,
            pre_lookahead_len=config.pre_lookahead,
            encoder=encoder,
            decoder=decoder,
        )
    generator = torch.Generator().manual_seed(seed + 2)
    with torch.no_grad():
        for layer in (flow.input_embedding, flow.spk_embed_affine_layer, flow.encoder_proj):
            for name, parameter in layer.named_parameters():
                noise = torch.randn(parameter.shape, generator=generator)
                if isinstance(layer, torch.nn.Embedding):
                    parameter.copy_(noise)
                elif name == "weight":
                    parameter.copy_(noise / math.sqrt(parameter.shape[1]))
                else:
                    parameter.copy_(0.2 * noise)
    return flow.eval()


def request(config: FlowConfig, prompt: int, new: int, seed: int) -> dict[str, torch.Tensor]:
    """One request: random prompt and new tokens, a random prompt mel (``ratio`` frames per
    prompt token) and a random speaker vector."""
    g = torch.Generator().manual_seed(seed)
    return {
        "prompt_tokens": torch.randint(0, config.vocab, (prompt,), generator=g),
        "tokens": torch.randint(0, config.vocab, (new,), generator=g),
        "prompt_mel": torch.randn(config.token_mel_ratio * prompt, config.mel_bins, generator=g),
        "speaker": torch.randn(config.speaker_dim, generator=g),
    }


def run_reference(
    reference: Any,
    item: dict[str, torch.Tensor],
    streaming: bool,
    finalize: bool = True,
    tokens: torch.Tensor | None = None,
) -> torch.Tensor:
    """The reference's mel ``[M, F]`` for ``item`` (or its prompt and other ``tokens``)."""
    new = item["tokens"] if tokens is None else tokens
    prompt, mel = item["prompt_tokens"], item["prompt_mel"]
    feat, _ = reference.inference(
        token=new[None],
        token_len=torch.tensor([len(new)]),
        prompt_token=prompt[None],
        prompt_token_len=torch.tensor([len(prompt)]),
        prompt_feat=mel[None],
        prompt_feat_len=torch.tensor([mel.shape[0]]),
        embedding=item["speaker"][None],
        streaming=streaming,
        finalize=finalize,
    )
    return feat[0]


def run_ours(ours: CausalFlow, items: list[dict[str, torch.Tensor]], streaming: bool) -> FlowOutput:
    return ours.inference(
        [item["tokens"] for item in items],
        [item["prompt_tokens"] for item in items],
        [item["prompt_mel"] for item in items],
        torch.stack([item["speaker"] for item in items]),
        streaming=streaming,
    )


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return float((a - b).abs().max())


def spans(config: FlowConfig, prompt: int, total: int) -> list[tuple[int, int]]:
    """Pieces as the official loop cuts them: the prompt and a hop padded to end on a chunk
    boundary, then a chunk, then two chunks at a time, then the rest (context None)."""
    chunk = config.chunk_tokens
    ends = [math.ceil(prompt / chunk) * chunk + chunk]
    step = chunk
    while ends[-1] + step + config.pre_lookahead <= total:
        ends.append(ends[-1] + step)
        step = 2 * chunk
    if ends[-1] + config.pre_lookahead > total:  # no context for it: it is the last piece
        ends[-1] = total
    if ends[-1] < total:
        ends.append(total)
    return list(zip([0, *ends[:-1]], ends, strict=True))


def stream(
    ours: CausalFlow, item: dict[str, torch.Tensor], pieces: list[tuple[int, int]]
) -> list[torch.Tensor]:
    """Our incremental pieces ``[M, 2n]`` (the first less the prompt's frames)."""
    sequence = torch.cat([item["prompt_tokens"], item["tokens"]])
    state = ours.start_stream(item["prompt_mel"], item["speaker"])
    p = ours.config.pre_lookahead
    out = []
    for a, b in pieces:
        context = sequence[b : b + p] if b < len(sequence) else None
        out.append(ours.stream_step(state, sequence[a:b], context))
    return out


@pytest.fixture(scope="module")
def pair() -> tuple[Any, CausalFlow]:
    config = debug()
    reference = reference_flow(config, seed=0)
    return reference, CausalFlow.from_reference_state(reference.state_dict(), config)


def test_reference_state_loads_strictly_and_round_trips(pair: tuple[Any, CausalFlow]) -> None:
    reference, ours = pair
    state = reference.state_dict()
    mine = ours.reference_state()
    assert mine.keys() == state.keys()
    assert all(torch.equal(value, state[key]) for key, value in mine.items())
    again = CausalFlow.from_reference_state(mine, ours.config).reference_state()
    assert all(torch.equal(value, mine[key]) for key, value in again.items())
    own = CausalFlow(ours.config)
    own.load_state_dict(ours.state_dict())  # strict: our own names round-trip too
    assert all(torch.equal(v, ours.state_dict()[k]) for k, v in own.state_dict().items())
    for key in (
        "encoder_proj.bias",
        "encoder.up_layer.conv.bias",
        "decoder.estimator.final_proj.bias",
    ):
        assert key in state
        less = {k: v for k, v in state.items() if k != key}
        with pytest.raises(ValueError, match=rf"missing \[[^]]*'{key}'"):
            CausalFlow.from_reference_state(less, ours.config)
    for key in (
        "speaker_proj.weight",
        "encoder.encoders.9.norm_ff.weight",
        "decoder.estimator.extra.weight",
        "decoder.rand_noise",
    ):
        more = {**state, key: torch.zeros(1)}
        with pytest.raises(ValueError, match=rf"unexpected \[[^]]*'{key}'"):
            CausalFlow.from_reference_state(more, ours.config)


@pytest.mark.parametrize("prompt", [PROMPT, 0], ids=["prompt", "no-prompt"])
@pytest.mark.parametrize("streaming", [False, True], ids=["offline", "chunk-masked"])
def test_inference_equals_the_reference(
    pair: tuple[Any, CausalFlow], prompt: int, streaming: bool
) -> None:
    reference, ours = pair
    item = request(ours.config, prompt, NEW, seed=1)
    expected = run_reference(reference, item, streaming=streaming)
    got = run_ours(ours, [item], streaming=streaming)
    assert got.lengths.tolist() == [2 * NEW]
    assert got.mel.dtype == torch.float32
    difference = max_diff(got.mel[0], expected)
    print(f"flow (prompt {prompt}, streaming={streaming}): max abs difference {difference:.2e}")
    assert difference <= 1e-3
    # the two attentions really differ (the test of each is not the test of the other)
    other = run_ours(ours, [item], streaming=not streaming)
    assert max_diff(other.mel[0], got.mel[0]) > 1e-2


def test_the_prompt_and_the_speaker_condition_the_mel(pair: tuple[Any, CausalFlow]) -> None:
    _, ours = pair
    item = request(ours.config, PROMPT, NEW, seed=2)
    base = run_ours(ours, [item], streaming=False).mel
    other_mel = {**item, "prompt_mel": item["prompt_mel"] + 1.0}
    other_speaker = {**item, "speaker": -item["speaker"]}
    assert max_diff(run_ours(ours, [other_mel], streaming=False).mel, base) > 1e-2
    assert max_diff(run_ours(ours, [other_speaker], streaming=False).mel, base) > 1e-2


@pytest.mark.parametrize("streaming", [False, True], ids=["offline", "chunk-masked"])
def test_a_padded_batch_gives_each_request_its_result(
    pair: tuple[Any, CausalFlow], streaming: bool
) -> None:
    _, ours = pair
    shapes = [(PROMPT, NEW), (12, 23), (0, 41)]  # (prompt tokens, new tokens)
    items = [request(ours.config, p, n, seed=10 + i) for i, (p, n) in enumerate(shapes)]
    together = run_ours(ours, items, streaming=streaming)
    assert together.mel.shape == (3, ours.config.mel_bins, 2 * NEW)
    assert together.lengths.tolist() == [2 * n for _, n in shapes]
    worst = 0.0
    for row, item in enumerate(items):
        alone = run_ours(ours, [item], streaming=streaming).mel[0]
        frames = alone.shape[1]
        worst = max(worst, max_diff(together.mel[row, :, :frames], alone))
        assert not together.mel[row, :, frames:].any()
    print(f"flow padded batch (streaming={streaming}): max abs difference {worst:.2e}")
    assert worst <= 1e-5


@pytest.mark.parametrize(
    ("prompt", "new"),
    [(PROMPT, STREAM_NEW), (0, 75)],
    ids=["prompt-last-piece-off-a-chunk", "no-prompt-last-piece-on-a-chunk"],
)
def test_stream_equals_the_chunk_masked_whole_and_the_references_steps(
    pair: tuple[Any, CausalFlow], prompt: int, new: int
) -> None:
    reference, ours = pair
    c = ours.config
    item = request(c, prompt, new, seed=3)
    pieces = spans(c, prompt, prompt + new)
    sizes = [b - a for a, b in pieces]
    assert all(b % c.chunk_tokens == 0 for _, b in pieces[:-1])
    if prompt:
        assert sizes == [75, 25, 50, 7]
    else:
        assert sizes == [25, 25, 25]
    outputs = stream(ours, item, pieces)
    for (a, b), out in zip(pieces, outputs, strict=True):
        assert out.shape == (c.mel_bins, 2 * (b - max(a, prompt)))
    whole = run_ours(ours, [item], streaming=True).mel[0]
    difference = max_diff(torch.cat(outputs, dim=1), whole)
    print(f"flow stream (prompt {prompt}): vs chunk-masked inference {difference:.2e}")
    assert difference <= 1e-4
    # Every non-final piece is what the reference's own non-final streaming call gives for
    # it: the whole prefix and the next ``pre_lookahead`` tokens, ``finalize=False``.
    worst = 0.0
    for (a, b), out in zip(pieces[:-1], outputs, strict=False):
        prefix = item["tokens"][: b - prompt + c.pre_lookahead]
        expected = run_reference(reference, item, streaming=True, finalize=False, tokens=prefix)
        assert expected.shape[1] == 2 * (b - prompt)
        worst = max(worst, max_diff(out, expected[:, 2 * max(a - prompt, 0) :]))
    print(f"flow stream (prompt {prompt}): vs the reference's non-final steps {worst:.2e}")
    assert worst <= 1e-4


@pytest.mark.slow
def test_full_size_equals_the_reference() -> None:
    config = cosyvoice2()
    began = time.perf_counter()
    reference = reference_flow(config, seed=4)
    ours = CausalFlow.from_reference_state(reference.state_dict(), config)
    prompt, new = 12, 51  # 63 tokens: pieces of 50 (prompt + hop) and 13
    item = request(config, prompt, new, seed=5)
    expected = run_reference(reference, item, streaming=False)
    difference = max_diff(run_ours(ours, [item], streaming=False).mel[0], expected)
    print(f"full-size flow offline: max abs difference {difference:.2e}")
    assert difference <= 1e-3
    pieces = spans(config, prompt, prompt + new)
    assert [b - a for a, b in pieces] == [50, 13]
    outputs = stream(ours, item, pieces)
    whole = run_ours(ours, [item], streaming=True).mel[0]
    difference = max_diff(torch.cat(outputs, dim=1), whole)
    print(f"full-size flow stream vs chunk-masked inference: {difference:.2e}")
    assert difference <= 1e-4
    prefix = item["tokens"][: 50 - prompt + config.pre_lookahead]
    expected = run_reference(reference, item, streaming=True, finalize=False, tokens=prefix)
    difference = max_diff(outputs[0], expected)
    print(f"full-size flow first piece vs the reference's step: {difference:.2e}")
    assert difference <= 1e-4
    print(f"full-size flow test: {time.perf_counter() - began:.1f} s")
