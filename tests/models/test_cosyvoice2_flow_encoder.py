"""`FlowEncoder` against the official ``UpsampleConformerEncoder`` on the same random weights:
offline (full and chunk-masked attention, with and without look-ahead context), padded
batches, and incremental streaming."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch

from models.tts.cosyvoice2.flow_encoder import (
    PRESETS,
    FlowEncoder,
    FlowEncoderConfig,
    FlowEncoderError,
    cosyvoice2,
    debug,
)
from models.tts.cosyvoice2.state_dicts import seeded_weights
from tests.models.cosyvoice_reference import reference_module

PROMPT = 37  # prompt tokens: not a multiple of the 25-token chunk
TOTAL = 140  # prompt + 103 new tokens


def reference_encoder(config: FlowEncoderConfig, seed: int, randomise: bool = True) -> Any:
    """The reference encoder built as ``cosyvoice2.yaml`` builds it, with ``config``'s sizes
    and seeded random weights (layer norms and biases too), in eval mode.

    The reference fixes the look-ahead and upsampling layers at width 512 and 4 frame-rate
    blocks; for other sizes those are rebuilt with the reference's own classes.
    """
    module = reference_module("transformer.upsample_encoder")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        encoder = module.UpsampleConformerEncoder(
            input_size=config.input_size,
            output_size=config.width,
            attention_heads=config.heads,
            linear_units=config.ffn,
            num_blocks=config.blocks,
            dropout_rate=0.1,
            positional_dropout_rate=0.1,
            attention_dropout_rate=0.1,
            normalize_before=True,
            input_layer="linear",
            pos_enc_layer_type="rel_pos_espnet",
            selfattention_layer_type="rel_selfattn",
            use_cnn_module=False,
            macaron_style=False,
            static_chunk_size=config.chunk_tokens,
        )
    if config.width != 512 or config.pre_lookahead != 3:
        encoder.pre_lookahead_layer = module.PreLookaheadLayer(
            channels=config.width, pre_lookahead_len=config.pre_lookahead
        )
    if config.width != 512 or config.upsample_stride != 2:
        encoder.up_layer = module.Upsample1D(config.width, config.width, config.upsample_stride)
    encoder.up_encoders = torch.nn.ModuleList(list(encoder.up_encoders)[: config.up_blocks])
    if randomise:
        seeded_weights(encoder, seed)
    return encoder.eval()


def embeddings(tokens: int, config: FlowEncoderConfig, seed: int) -> torch.Tensor:
    return torch.randn(1, tokens, config.input_size, generator=torch.Generator().manual_seed(seed))


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return float((a - b).abs().max())


def run_reference(
    reference: Any, x: torch.Tensor, context: torch.Tensor | None, streaming: bool
) -> torch.Tensor:
    """One request through the reference, as the flow calls it (lengths include context)."""
    extra = 0 if context is None else context.shape[1]
    lengths = torch.tensor([x.shape[1] + extra])
    if context is None:
        return reference(x, lengths, streaming=streaming)[0]
    return reference(x, lengths, context=context, streaming=streaming)[0]


def pieces(config: FlowEncoderConfig) -> list[tuple[int, int]]:
    """[prompt + first hop, chunk, chunk, rest], the first hop padded so that the prompt and
    it end on a chunk boundary (as the official streaming loop pads it)."""
    chunk = config.chunk_tokens
    first_end = math.ceil(PROMPT / chunk) * chunk + chunk
    ends = [first_end, first_end + chunk, first_end + 2 * chunk, TOTAL]
    return list(zip([0, *ends[:-1]], ends, strict=True))


def stream(
    encoder: FlowEncoder, x: torch.Tensor, spans: list[tuple[int, int]]
) -> list[torch.Tensor]:
    state = encoder.start_stream()
    p = encoder.config.pre_lookahead
    total = x.shape[1]
    return [
        encoder.stream_step(state, x[:, a:b], x[:, b : b + p] if b < total else None)
        for a, b in spans
    ]


@pytest.fixture(scope="module")
def pair() -> tuple[Any, FlowEncoder]:
    config = debug()
    reference = reference_encoder(config, seed=3)
    return reference, FlowEncoder.from_reference_state(reference.state_dict(), config)


def test_presets_have_the_official_shape() -> None:
    assert set(PRESETS) == {"cosyvoice2", "debug"}
    c = PRESETS["cosyvoice2"]()
    assert (c.input_size, c.width, c.heads, c.ffn, c.blocks, c.up_blocks) == (
        512,
        512,
        8,
        2048,
        6,
        4,
    )
    assert (c.upsample_stride, c.pre_lookahead, c.chunk_tokens, c.chunk_frames) == (2, 3, 25, 50)
    with pytest.raises(ValueError, match="divisible"):
        FlowEncoderConfig(width=30, heads=4)


def test_full_size_keys_and_shapes_are_the_references() -> None:
    with torch.device("meta"):  # shapes only: no memory, no initialisation
        ours = FlowEncoder(cosyvoice2()).reference_state()
        theirs = reference_encoder(cosyvoice2(), seed=0, randomise=False).state_dict()
    assert {k: tuple(v.shape) for k, v in ours.items()} == {
        k: tuple(v.shape) for k, v in theirs.items()
    }


@pytest.mark.parametrize("streaming", [False, True])
@pytest.mark.parametrize("with_context", [False, True])
@torch.no_grad()
def test_offline_matches_reference(
    pair: tuple[Any, FlowEncoder], streaming: bool, with_context: bool
) -> None:
    reference, ours = pair
    x = embeddings(TOTAL, ours.config, seed=5)
    context = None
    if with_context:
        x, context = x[:, :100], x[:, 100:103]
    expected = run_reference(reference, x, context, streaming)
    h, h_lengths = ours(x, torch.tensor([x.shape[1]]), context=context, streaming=streaming)
    assert h_lengths.tolist() == [2 * x.shape[1]]
    assert max_diff(h, expected) <= 1e-5


@pytest.mark.parametrize("streaming", [False, True])
@pytest.mark.parametrize("with_context", [False, True])
@torch.no_grad()
def test_batch_items_match_alone(
    pair: tuple[Any, FlowEncoder], streaming: bool, with_context: bool
) -> None:
    _, ours = pair
    c = ours.config
    lengths = [TOTAL, 60, 33]
    items = [embeddings(n, c, seed=10 + i) for i, n in enumerate(lengths)]
    contexts = [embeddings(c.pre_lookahead, c, seed=20 + i) for i in range(len(lengths))]
    x = 7.0 * torch.randn(len(lengths), TOTAL, c.input_size)  # padding holds noise
    for row, item in enumerate(items):
        x[row, : item.shape[1]] = item[0]
    context = torch.cat(contexts) if with_context else None
    h, h_lengths = ours(x, torch.tensor(lengths), context=context, streaming=streaming)
    assert h_lengths.tolist() == [2 * n for n in lengths]
    for row, (item, extra) in enumerate(zip(items, contexts, strict=True)):
        alone, _ = ours(
            item, torch.tensor([item.shape[1]]), extra if with_context else None, streaming
        )
        frames = alone.shape[1]
        assert max_diff(h[row : row + 1, :frames], alone) <= 1e-5
        assert not h[row, frames:].any()


@torch.no_grad()
def test_chunk_mask_is_applied(pair: tuple[Any, FlowEncoder]) -> None:
    _, ours = pair
    c = ours.config
    x = embeddings(TOTAL, c, seed=6)
    lengths = torch.tensor([TOTAL])
    full, _ = ours(x, lengths)
    chunked, _ = ours(x, lengths, streaming=True)
    assert max_diff(full, chunked) > 1e-2
    # Chunked, the first chunk's frames ignore every token past its look-ahead; full, not.
    later = x.clone()
    later[:, c.chunk_tokens + c.pre_lookahead :] += 1.0
    first = slice(0, c.chunk_frames)
    assert max_diff(ours(later, lengths, streaming=True)[0][:, first], chunked[:, first]) == 0
    assert max_diff(ours(later, lengths)[0][:, first], full[:, first]) > 1e-2


@torch.no_grad()
def test_stream_matches_reference(pair: tuple[Any, FlowEncoder]) -> None:
    reference, ours = pair
    c = ours.config
    x = embeddings(TOTAL, c, seed=7)
    spans = pieces(c)
    outputs = stream(ours, x, spans)
    whole = run_reference(reference, x, None, streaming=True)
    assert max_diff(torch.cat(outputs, dim=1), whole) <= 1e-5
    # Each piece is what the reference computes for it when it re-encodes the prefix.
    for (a, b), out in zip(spans[:-1], outputs, strict=False):
        prefix = run_reference(reference, x[:, :b], x[:, b : b + c.pre_lookahead], True)
        assert max_diff(out, prefix[:, 2 * a : 2 * b]) <= 1e-5


@torch.no_grad()
def test_streams_are_per_request(pair: tuple[Any, FlowEncoder]) -> None:
    _, ours = pair
    c = ours.config
    x = [embeddings(TOTAL, c, seed=8), embeddings(90, c, seed=9)]
    spans = [pieces(c), [(0, 25), (25, 75), (75, 90)]]
    alone = [stream(ours, xi, si) for xi, si in zip(x, spans, strict=True)]
    states = [ours.start_stream(), ours.start_stream()]
    together: list[list[torch.Tensor]] = [[], []]
    for step in range(max(len(s) for s in spans)):
        for which in (1, 0):
            if step < len(spans[which]):
                a, b = spans[which][step]
                total = x[which].shape[1]
                context = x[which][:, b : b + c.pre_lookahead] if b < total else None
                together[which].append(ours.stream_step(states[which], x[which][:, a:b], context))
    for mine, solo in zip(together, alone, strict=True):
        assert max_diff(torch.cat(mine, dim=1), torch.cat(solo, dim=1)) == 0


@torch.no_grad()
def test_stream_state_size_per_token(pair: tuple[Any, FlowEncoder]) -> None:
    _, ours = pair
    c = ours.config
    state = ours.start_stream()
    ours.stream_step(state, embeddings(50, c, seed=1), embeddings(3, c, seed=2))
    cached = sum(t.numel() for kv in state.token_cache + state.frame_cache for t in kv)
    assert cached == 50 * 2 * c.width * (c.blocks + c.upsample_stride * c.up_blocks)


@torch.no_grad()
def test_stream_contract_is_enforced(pair: tuple[Any, FlowEncoder]) -> None:
    _, ours = pair
    c = ours.config
    state = ours.start_stream()
    with pytest.raises(FlowEncoderError, match="multiple of 25"):
        ours.stream_step(state, embeddings(30, c, seed=1), embeddings(3, c, seed=2))
    with pytest.raises(FlowEncoderError, match="context"):
        ours.stream_step(state, embeddings(25, c, seed=1), embeddings(2, c, seed=2))
    ours.stream_step(state, embeddings(7, c, seed=1), None)
    with pytest.raises(FlowEncoderError, match="already"):
        ours.stream_step(state, embeddings(7, c, seed=1), None)
    with pytest.raises(FlowEncoderError, match="lengths"):
        ours(embeddings(7, c, seed=1), torch.tensor([8]))


@torch.no_grad()
def test_state_dict_round_trip_and_strict_load(pair: tuple[Any, FlowEncoder]) -> None:
    reference, ours = pair
    x = embeddings(40, ours.config, seed=4)
    again = FlowEncoder.from_reference_state(ours.reference_state(), ours.config)
    own = FlowEncoder(ours.config).eval()
    own.load_state_dict(ours.state_dict())
    expected = ours(x, torch.tensor([40]))[0]
    assert max_diff(again(x, torch.tensor([40]))[0], expected) == 0
    assert max_diff(own(x, torch.tensor([40]))[0], expected) == 0
    state = dict(reference.state_dict())
    state.pop("up_layer.conv.bias")
    with pytest.raises(ValueError, match=r"missing.*up_layer\.conv\.bias"):
        FlowEncoder.from_reference_state(state, ours.config)
    state = {**reference.state_dict(), "encoders.9.norm_ff.weight": torch.ones(1)}
    with pytest.raises(ValueError, match=r"unexpected.*encoders\.9"):
        FlowEncoder.from_reference_state(state, ours.config)


@pytest.mark.slow
@torch.no_grad()
def test_full_size_matches_reference() -> None:
    config = cosyvoice2()
    reference = reference_encoder(config, seed=11)
    ours = FlowEncoder.from_reference_state(reference.state_dict(), config)
    x = embeddings(TOTAL, config, seed=12)
    for streaming in (False, True):
        expected = run_reference(reference, x, None, streaming)
        assert max_diff(ours(x, torch.tensor([TOTAL]), streaming=streaming)[0], expected) <= 1e-4
        expected = run_reference(reference, x[:, :100], x[:, 100:103], streaming)
        got = ours(x[:, :100], torch.tensor([100]), x[:, 100:103], streaming)[0]
        assert max_diff(got, expected) <= 1e-4
    whole = run_reference(reference, x, None, streaming=True)
    assert max_diff(torch.cat(stream(ours, x, pieces(config)), dim=1), whole) <= 1e-4
