"""`CausalEstimator` against the official ``CausalConditionalDecoder`` on the same random weights:
full and chunk-masked attention, padded batches, piecewise streaming."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from models.tts.cosyvoice2.flow_estimator import (
    PRESETS,
    CausalEstimator,
    EstimatorConfig,
    EstimatorMemory,
    cosyvoice2,
    debug,
)
from models.tts.cosyvoice2.state_dicts import seeded_weights
from tests.models.cosyvoice_reference import reference_module

FRAMES = 137  # not a multiple of the 50-frame chunk


def reference_estimator(config: EstimatorConfig, seed: int) -> Any:
    """The reference estimator built as ``cosyvoice2.yaml`` builds it, with ``config``'s sizes
    and seeded random weights (norm gains and biases too), in eval mode."""
    module = reference_module("flow.decoder")
    with torch.random.fork_rng(devices=[]):
        estimator = module.CausalConditionalDecoder(
            in_channels=config.in_channels,
            out_channels=config.mel_bins,
            channels=list(config.channels),
            dropout=0.0,
            attention_head_dim=config.head_dim,
            n_blocks=config.blocks,
            num_mid_blocks=config.mid_blocks,
            num_heads=config.heads,
            act_fn=config.activation,
            static_chunk_size=config.chunk_frames,
            num_decoding_left_chunks=-1,
        )
    seeded_weights(estimator, seed)
    return estimator.eval()


def inputs(items: int, frames: int, seed: int, mel_bins: int = 80) -> dict[str, torch.Tensor]:
    """Random estimator inputs (every frame real)."""
    g = torch.Generator().manual_seed(seed)
    return {
        "x": torch.randn(items, mel_bins, frames, generator=g),
        "mask": torch.ones(items, 1, frames),
        "mu": torch.randn(items, mel_bins, frames, generator=g),
        "t": torch.rand(items, generator=g),
        "spks": torch.randn(items, mel_bins, generator=g),
        "cond": torch.randn(items, mel_bins, frames, generator=g),
    }


@pytest.fixture(scope="module")
def pair() -> tuple[Any, CausalEstimator]:
    reference = reference_estimator(debug(), seed=0)
    return reference, CausalEstimator.from_reference_state(reference.state_dict(), debug())


def test_presets_and_config_checks() -> None:
    assert set(PRESETS) == {"cosyvoice2", "debug"}
    official = PRESETS["cosyvoice2"]()
    assert (official.in_channels, official.inner, official.time_width) == (320, 512, 1024)
    assert official.attention_layers == (1 + 12 + 1) * 4
    with pytest.raises(ValueError, match="one U-Net level"):
        EstimatorConfig(channels=(256, 256))
    with pytest.raises(ValueError, match="activation"):
        EstimatorConfig(activation="snake")


def test_reference_state_loads_strictly(pair: tuple[Any, CausalEstimator]) -> None:
    reference, ours = pair
    state = reference.state_dict()
    assert ours.reference_state().keys() == state.keys()
    assert all(torch.equal(v, state[k]) for k, v in ours.reference_state().items())
    with pytest.raises(ValueError, match="unexpected"):
        CausalEstimator.from_reference_state({**state, "extra.weight": torch.zeros(1)}, debug())
    missing = {k: v for k, v in state.items() if k != "final_proj.bias"}
    with pytest.raises(ValueError, match=r"missing \['final_proj.bias'\]"):
        CausalEstimator.from_reference_state(missing, debug())
    # our own names round-trip too
    again = CausalEstimator(debug())
    again.load_state_dict(ours.state_dict())
    assert all(torch.equal(v, ours.state_dict()[k]) for k, v in again.state_dict().items())


@pytest.mark.parametrize("streaming", [False, True])
def test_equals_the_reference(pair: tuple[Any, CausalEstimator], streaming: bool) -> None:
    reference, ours = pair
    batch = inputs(2, FRAMES, seed=1)
    with torch.inference_mode():
        expected = reference(**batch, streaming=streaming)
        got = ours(**batch, streaming=streaming)
    difference = float((got - expected).abs().max())
    print(f"estimator (streaming={streaming}): max abs difference {difference:.2e}")
    assert difference <= 1e-5


def test_chunk_masked_attention_differs_from_full_and_is_causal(
    pair: tuple[Any, CausalEstimator],
) -> None:
    _, ours = pair
    batch = inputs(1, FRAMES, seed=2)
    changed = {**batch, "mu": batch["mu"].clone()}
    changed["mu"][:, :, 100:] += 1.0  # frames of the third chunk on
    with torch.inference_mode():
        full, chunked = ours(**batch), ours(**batch, streaming=True)
        chunked_changed = ours(**changed, streaming=True)
        full_changed = ours(**changed)
    assert float((full - chunked)[:, :, :50].abs().max()) > 1e-2
    # chunk-masked: the first two chunks do not see the change; full attention does
    assert torch.equal(chunked[:, :, :100], chunked_changed[:, :, :100])
    assert float((full - full_changed)[:, :, :100].abs().max()) > 1e-3


@pytest.mark.parametrize("streaming", [False, True])
def test_a_padded_batch_gives_each_item_its_result(
    pair: tuple[Any, CausalEstimator], streaming: bool
) -> None:
    _, ours = pair
    lengths = [FRAMES, 60, 1]
    items = [inputs(1, n, seed=10 + i) for i, n in enumerate(lengths)]
    batch: dict[str, torch.Tensor] = {}
    for key in ("x", "mu", "cond", "mask"):
        rows = [
            torch.nn.functional.pad(item[key], (0, FRAMES - item[key].shape[2])) for item in items
        ]
        batch[key] = torch.cat(rows)
    batch["t"] = torch.cat([item["t"] for item in items])
    batch["spks"] = torch.cat([item["spks"] for item in items])
    with torch.inference_mode():
        together = ours(**batch, streaming=streaming)
        for row, (item, length) in enumerate(zip(items, lengths, strict=True)):
            alone = ours(**item, streaming=streaming)
            assert float((together[row, :, :length] - alone[0]).abs().max()) <= 1e-5
            assert not together[row, :, length:].any()


PIECES = {
    # 150 frames: the last real piece is a whole chunk, then an empty piece closes the stream
    "closed-by-an-empty-piece": (FRAMES + 13, [(0, 100), (100, 150), (150, 150)]),
    "ending-off-a-chunk": (FRAMES, [(0, 50), (50, 100), (100, FRAMES)]),
}


@pytest.mark.parametrize("pieces", PIECES.values(), ids=PIECES.keys())
@pytest.mark.parametrize("cache", ["inputs", "kv"])
def test_pieces_equal_the_chunk_masked_whole(
    pair: tuple[Any, CausalEstimator], cache: str, pieces: tuple[int, list[tuple[int, int]]]
) -> None:
    _, ours = pair
    frames, bounds = pieces
    batch = inputs(2, frames, seed=3)
    with torch.inference_mode():
        whole = ours(**batch, streaming=True)
        memory = EstimatorMemory(cache=cache)
        outputs = []
        for start, end in bounds:
            piece = ours.stream(
                batch["x"][:, :, start:end],
                batch["mu"][:, :, start:end],
                batch["t"],
                batch["spks"],
                batch["cond"][:, :, start:end],
                memory,
            )
            assert piece.shape == (2, 80, end - start)
            assert memory.frames == end
            outputs.append(piece)
    difference = float((torch.cat(outputs, dim=2) - whole).abs().max())
    print(f"estimator pieces ({cache}): max abs difference {difference:.2e}")
    assert difference <= 1e-5


def test_memory_per_frame_matches_the_docstring() -> None:
    config = cosyvoice2()
    per_layer = {"kv": 2 * config.inner, "inputs": config.width}
    assert config.attention_layers * per_layer["kv"] * 10 * 2 == 1_146_880
    assert config.attention_layers * per_layer["inputs"] * 10 * 2 == 286_720
    small = debug()
    model = CausalEstimator(small).eval()
    batch = inputs(2, 60, seed=4)
    for cache, numbers in {"kv": 2 * small.inner, "inputs": small.width}.items():
        memory = EstimatorMemory(cache=cache)
        with torch.inference_mode():
            model.stream(batch["x"], batch["mu"], batch["t"], batch["spks"], batch["cond"], memory)
        tails = sum(t.numel() * 4 for t in memory.conv_tails if t is not None)
        assert len(memory.conv_tails) == 3 + 2 * small.mid_blocks + 3 + 1
        assert memory.nbytes() - tails == 2 * 60 * small.attention_layers * numbers * 4


@pytest.mark.slow
def test_full_size_equals_the_reference() -> None:
    config = cosyvoice2()
    reference = reference_estimator(config, seed=0)
    ours = CausalEstimator.from_reference_state(reference.state_dict(), config)
    batch = inputs(2, 300, seed=5)
    for streaming in (False, True):
        with torch.inference_mode():
            expected = reference(**batch, streaming=streaming)
            got = ours(**batch, streaming=streaming)
        difference = float((got - expected).abs().max())
        print(f"full-size estimator (streaming={streaming}): max abs difference {difference:.2e}")
        assert difference <= 1e-4
