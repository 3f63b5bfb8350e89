"""`FlowSampler` against the official ``CausalConditionalCFM`` on the same random estimator
weights: the fixed noise, whole sequences (full and chunk-masked attention), padded batches,
piecewise streaming, and the checks of settings and shapes."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import torch

from models.tts.cosyvoice2 import flow_estimator
from models.tts.cosyvoice2.flow_estimator import CausalEstimator, EstimatorConfig
from models.tts.cosyvoice2.flow_sampler import (
    PRESETS,
    CFMConfig,
    FlowSampler,
    FlowSamplerError,
    cosyvoice2,
    debug,
    fixed_noise,
)
from tests.models.cosyvoice_reference import reference_module
from tests.models.test_cosyvoice2_flow_estimator import reference_estimator

FRAMES = 137  # not a multiple of the 50-frame chunk
PROMPT = 30  # prompt frames: ``cond`` is zero after them
MEL = 80  # the reference hard-codes 80 mel bins in its solver


@contextlib.contextmanager
def own_random_state() -> Iterator[None]:
    """Undo the reference's ``set_all_random_seed(0)`` (Python's, NumPy's and torch's global
    generators) so that building it changes nothing for other tests."""
    python, numpy = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        yield
    random.setstate(python)
    np.random.set_state(numpy)


def reference_cfm(estimator: Any, config: CFMConfig) -> Any:
    """The reference sampler built as ``cosyvoice2.yaml`` builds it, around ``estimator``."""
    from omegaconf import OmegaConf

    module = reference_module("flow.flow_matching")
    params = OmegaConf.create(
        {
            "sigma_min": 1e-6,
            "solver": "euler",
            "t_scheduler": config.schedule,
            "training_cfg_rate": 0.2,
            "inference_cfg_rate": config.cfg_rate,
            "reg_loss_type": "l1",
        }
    )
    with own_random_state():
        cfm = module.CausalConditionalCFM(
            in_channels=240, cfm_params=params, n_spks=1, spk_emb_dim=MEL, estimator=estimator
        )
    return cfm.eval()


def reference_pair(
    estimator: EstimatorConfig, config: CFMConfig, seed: int = 0
) -> tuple[Any, FlowSampler]:
    """The reference sampler and ours on the same seeded random estimator weights."""
    theirs = reference_estimator(estimator, seed=seed)
    ours = CausalEstimator.from_reference_state(theirs.state_dict(), estimator)
    return reference_cfm(theirs, config), FlowSampler(config, ours)


def request(frames: int, prompt: int, seed: int) -> dict[str, torch.Tensor]:
    """One unpadded request's sampler inputs ``[1, ...]``: a prompt mel on its first
    ``prompt`` frames of ``cond``, zeros after."""
    g = torch.Generator().manual_seed(seed)
    cond = torch.zeros(1, MEL, frames)
    cond[:, :, :prompt] = torch.randn(1, MEL, prompt, generator=g)
    return {
        "mu": torch.randn(1, MEL, frames, generator=g),
        "mask": torch.ones(1, 1, frames),
        "spks": torch.randn(1, MEL, generator=g),
        "cond": cond,
    }


def max_difference(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape
    return float((a - b).abs().max())


@pytest.fixture(scope="module")
def pair() -> tuple[Any, FlowSampler]:
    return reference_pair(flow_estimator.debug(), debug())


@pytest.fixture(scope="module")
def one() -> dict[str, torch.Tensor]:
    return request(FRAMES, PROMPT, seed=1)


def test_presets_and_config_checks() -> None:
    assert set(PRESETS) == {"cosyvoice2", "debug"}
    official = cosyvoice2()
    assert (official.steps, official.schedule, official.cfg_rate) == (10, "cosine", 0.7)
    assert official.noise_frames == 50 * 300
    bad = {
        "steps": {"steps": 0},
        "noise_frames": {"noise_frames": 0},
        "cfg_rate": {"cfg_rate": -0.5},
        "temperature": {"temperature": float("nan")},
        "schedule": {"schedule": "euler"},
        "stream_cache": {"stream_cache": "disk"},
    }
    for name, settings in bad.items():
        with pytest.raises(FlowSamplerError, match=f"flow sampler: {name} "):
            CFMConfig(**settings)
    assert issubclass(FlowSamplerError, ValueError)  # flow.py's config loading expects it


def test_fixed_noise_is_the_references(pair: tuple[Any, FlowSampler]) -> None:
    reference, ours = pair
    assert ours.noise.shape == reference.rand_noise.shape == (1, MEL, 50 * 300)
    assert torch.equal(ours.noise, reference.rand_noise)
    # drawn from its own generator: the global one is left alone
    state = torch.random.get_rng_state()
    again = fixed_noise(debug(), MEL)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.equal(again, ours.noise)
    assert not torch.equal(fixed_noise(CFMConfig(noise_seed=1), MEL), ours.noise)


@pytest.mark.parametrize("streaming", [False, True])
def test_sample_equals_the_reference(
    pair: tuple[Any, FlowSampler], one: dict[str, torch.Tensor], streaming: bool
) -> None:
    reference, ours = pair
    expected, _ = reference(
        one["mu"], one["mask"], 10, spks=one["spks"], cond=one["cond"], streaming=streaming
    )
    got = ours.sample(**one, streaming=streaming)
    difference = max_difference(got, expected)
    print(f"sampler (streaming={streaming}): max abs difference {difference:.2e}")
    assert got.dtype == torch.float32
    assert difference <= 1e-4
    # the two attentions really differ, even in the first chunk
    other = ours.sample(**one, streaming=not streaming)
    assert max_difference(got[:, :, :50], other[:, :, :50]) > 1e-2


def test_other_settings_equal_the_reference() -> None:
    """Steps, the linear schedule, the guidance weight and the temperature reach the solver
    as the reference's ``n_timesteps``, ``t_scheduler``, ``inference_cfg_rate`` and
    ``temperature``."""
    config = CFMConfig(steps=4, schedule="linear", cfg_rate=0.3, temperature=0.6)
    reference, ours = reference_pair(flow_estimator.debug(), config, seed=2)
    inputs = request(60, 10, seed=3)
    expected, _ = reference(
        inputs["mu"], inputs["mask"], 4, temperature=0.6, spks=inputs["spks"], cond=inputs["cond"]
    )
    difference = max_difference(ours.sample(**inputs), expected)
    print(
        f"sampler (4 linear steps, cfg 0.3, temperature 0.6): max abs difference {difference:.2e}"
    )
    assert difference <= 1e-4


@pytest.mark.parametrize("streaming", [False, True])
def test_a_padded_batch_gives_each_item_its_result(
    pair: tuple[Any, FlowSampler], streaming: bool
) -> None:
    _, ours = pair
    lengths, prompts = [FRAMES, 60, 1], [PROMPT, 20, 0]
    items = [
        request(n, p, seed=10 + i) for i, (n, p) in enumerate(zip(lengths, prompts, strict=True))
    ]
    batch = {
        key: torch.cat(
            [torch.nn.functional.pad(item[key], (0, FRAMES - item[key].shape[2])) for item in items]
        )
        for key in ("mu", "mask", "cond")
    }
    batch["spks"] = torch.cat([item["spks"] for item in items])
    together = ours.sample(**batch, streaming=streaming)
    worst = 0.0
    for row, (item, length) in enumerate(zip(items, lengths, strict=True)):
        alone = ours.sample(**item, streaming=streaming)
        worst = max(worst, max_difference(together[row : row + 1, :, :length], alone))
        assert not together[row, :, length:].any()
    print(f"sampler padded batch (streaming={streaming}): max abs difference {worst:.2e}")
    assert worst <= 1e-5


@pytest.mark.parametrize("cache", ["inputs", "kv"])
def test_stream_pieces_equal_the_chunk_masked_whole(
    pair: tuple[Any, FlowSampler], one: dict[str, torch.Tensor], cache: str
) -> None:
    _, base = pair
    ours = FlowSampler(CFMConfig(stream_cache=cache), base.estimator)
    whole = ours.sample(**one, streaming=True)
    state = ours.start_stream(one["spks"])
    assert [memory.cache for memory in state.steps] == [cache] * 10
    pieces = []
    # frames counted from the sequence's first, the prompt's included: the first piece holds
    # the 30 prompt frames and 20 new ones
    for start, end in [(0, 50), (50, 100), (100, FRAMES)]:
        pieces.append(
            ours.stream_step(state, one["mu"][:, :, start:end], one["cond"][:, :, start:end])
        )
        assert state.frames == end
        assert state.finished == (end == FRAMES)
    difference = max_difference(torch.cat(pieces, dim=2), whole)
    print(f"sampler stream ({cache}): max abs difference {difference:.2e}")
    assert difference <= 1e-4
    assert state.nbytes() > 0
    with pytest.raises(FlowSamplerError, match="already sampled"):
        ours.stream_step(state, one["mu"][:, :, :1], one["cond"][:, :, :1])


def test_a_stream_ending_on_a_chunk_boundary_takes_an_empty_last_piece(
    pair: tuple[Any, FlowSampler],
) -> None:
    _, ours = pair
    inputs = request(50, 10, seed=4)
    state = ours.start_stream(inputs["spks"])
    mel = ours.stream_step(state, inputs["mu"], inputs["cond"])
    assert not state.finished  # it may go on
    empty = ours.stream_step(state, inputs["mu"][:, :, :0], inputs["cond"][:, :, :0])
    assert empty.shape == (1, MEL, 0)
    assert (state.frames, state.finished) == (50, False)
    assert max_difference(mel, ours.sample(**inputs, streaming=True)) <= 1e-4


def test_wrong_shapes_are_named(
    pair: tuple[Any, FlowSampler], one: dict[str, torch.Tensor]
) -> None:
    _, ours = pair
    wrong = {
        "mu": one["mu"][:, :40],
        "mask": one["mask"][:, :, :-1],
        "spks": one["spks"][:, :40],
        "cond": torch.cat([one["cond"], one["cond"]]),
    }
    for name, tensor in wrong.items():
        with pytest.raises(FlowSamplerError, match=f"flow sampler {name}: want "):
            ours.sample(**{**one, name: tensor})
    short = FlowSampler(CFMConfig(noise_frames=100), ours.estimator)
    with pytest.raises(FlowSamplerError, match="137 frames exceed the fixed noise's 100"):
        short.sample(**one)

    with pytest.raises(FlowSamplerError, match="stream spks: want"):
        ours.start_stream(torch.cat([one["spks"], one["spks"]]))
    state = ours.start_stream(one["spks"])
    with pytest.raises(FlowSamplerError, match="stream mu: want"):
        ours.stream_step(state, torch.cat([one["mu"], one["mu"]]), one["cond"])
    with pytest.raises(FlowSamplerError, match="stream cond: want"):
        ours.stream_step(state, one["mu"], one["cond"][:, :, :50])
    assert state.frames == 0  # a refused piece changes nothing
    state = short.start_stream(one["spks"])
    short.stream_step(state, one["mu"][:, :, :100], one["cond"][:, :, :100])
    with pytest.raises(FlowSamplerError, match="101 frames exceed"):
        short.stream_step(state, one["mu"][:, :, 100:101], one["cond"][:, :, 100:101])


@pytest.mark.slow
def test_full_size_equals_the_reference() -> None:
    reference, ours = reference_pair(flow_estimator.cosyvoice2(), cosyvoice2())
    inputs = request(120, 40, seed=5)  # three chunks, the last partial
    for streaming in (False, True):
        expected, _ = reference(
            inputs["mu"],
            inputs["mask"],
            10,
            spks=inputs["spks"],
            cond=inputs["cond"],
            streaming=streaming,
        )
        difference = max_difference(ours.sample(**inputs, streaming=streaming), expected)
        print(f"full-size sampler (streaming={streaming}): max abs difference {difference:.2e}")
        assert difference <= 1e-4
