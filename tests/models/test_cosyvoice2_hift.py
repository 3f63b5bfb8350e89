"""`HiFT` against the official ``HiFTGenerator`` on the same random weights: strict loading of
both weight-norm key forms, offline parity with the random source seeded alike, padded
batches, the official streaming procedure (mel and source cache, Hamming cross-fade), and the
errors on bad inputs."""

from __future__ import annotations

import copy
import math
import operator
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
import torch

from audiotok.errors import AudiotokError
from models.tts.cosyvoice2.hift import HiFT, fold_weight_norm
from models.tts.cosyvoice2.hift_config import PRESETS, HiFTConfig, cosyvoice2, debug
from tests.models.cosyvoice_reference import reference_module

# The vocoder of the official ``cosyvoice2.yaml`` (CosyVoice2-0.5B), as its keyword arguments.
OFFICIAL: dict[str, Any] = {
    "in_channels": 80,
    "base_channels": 512,
    "nb_harmonics": 8,
    "sampling_rate": 24000,
    "nsf_alpha": 0.1,
    "nsf_sigma": 0.003,
    "nsf_voiced_threshold": 10,
    "upsample_rates": [8, 5, 3],
    "upsample_kernel_sizes": [16, 11, 7],
    "istft_params": {"n_fft": 16, "hop_len": 4},
    "resblock_kernel_sizes": [3, 7, 11],
    "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]],
    "source_resblock_kernel_sizes": [7, 7, 11],
    "source_resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]],
    "lrelu_slope": 0.1,
    "audio_limit": 0.99,
}
OFFICIAL_F0_CHANNELS = 512
HOP = 480  # samples per mel frame
OVERLAP = 8 * HOP  # the official streaming cache (8 mel frames) in samples
CHUNKS = (50, 100, 43)  # streaming test: the last chunk is the rest


def reference_hift(config: HiFTConfig, seed: int) -> Any:
    """The reference vocoder with the official settings and ``config``'s widths, its weights
    random from ``seed`` and scaled so the output is neither tiny nor clamped: each weight-norm
    filter of norm about 1, Snake alphas about 1, conv_post's filters shrunk (log-magnitudes
    near 0), and the F0 read-out spread over some 0-120 Hz (voiced and unvoiced frames)."""
    generator = reference_module("hifigan.generator")
    f0_module = reference_module("hifigan.f0_predictor")
    with torch.random.fork_rng(devices=[]):  # the constructors' own init draws
        model = generator.HiFTGenerator(
            **{**OFFICIAL, "base_channels": config.base_channels},
            f0_predictor=f0_module.ConvRNNF0Predictor(
                num_class=1, in_channels=80, cond_channels=config.f0_channels
            ),
        )
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            noise = torch.randn(parameter.shape, generator=g)
            if name.endswith(("original0", "alpha")):  # weight-norm gains, Snake alphas
                parameter.copy_(1 + 0.2 * noise)
            elif parameter.dim() >= 2:
                parameter.copy_(noise / math.sqrt(parameter[0].numel()))
            else:
                parameter.copy_(0.1 * noise)
        model.conv_post.parametrizations.weight.original0.mul_(0.2)
        model.f0_predictor.classifier.weight.mul_(100)
        model.f0_predictor.classifier.bias.fill_(30)
    return model.eval()


def old_weight_norm_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The state dict as torch's old ``weight_norm`` names it (``weight_g``/``weight_v``)."""
    renames = {
        ".parametrizations.weight.original0": ".weight_g",
        ".parametrizations.weight.original1": ".weight_v",
    }
    out = {}
    for key, value in state.items():
        for new, old in renames.items():
            key = key.replace(new, old)
        out[key] = value
    return out


def random_mel(frames: int, seed: int, items: int = 1) -> torch.Tensor:
    """``[items, 80, frames]`` of unit noise (the flow's log-mels are of that scale)."""
    return torch.randn(items, 80, frames, generator=torch.Generator().manual_seed(seed))


def smooth_mel(frames: int, seed: int) -> torch.Tensor:
    """``[1, 80, frames]`` varying slowly in time: a fixed spectrum plus a 2 s sway."""
    g = torch.Generator().manual_seed(seed)
    base, sway = torch.randn(2, 80, 1, generator=g)
    t = torch.arange(frames) / 50
    return (base + 0.5 * sway * torch.sin(2 * math.pi * t / 2))[None]


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def reference_inference(
    reference: Any, mel: torch.Tensor, seed: int, cache: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The reference's ``inference`` with the global RNG at ``seed`` (its source draws from
    it); the caller's RNG state is left as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        kwargs = {} if cache is None else {"cache_source": cache}
        wave, source = reference.inference(speech_feat=mel, **kwargs)
    return wave, source


FADE_WARNING = "ignore:__array_wrap__ must accept context:DeprecationWarning"


def reference_stream(reference: Any, chunks: Sequence[torch.Tensor], seed: int) -> list[Any]:
    """The pieces of waveform that ``CosyVoice2Model.token2wav`` yields for these mel chunks
    (its HiFT part: the last 8 mel frames vocoded again with the next chunk, their source
    reused, the last 8 x 480 samples held back and Hamming cross-faded), the global RNG at
    ``seed`` at the start and running on through the calls."""
    common = reference_module("utils.common")
    window = np.hamming(2 * OVERLAP)
    cache: dict[str, torch.Tensor] | None = None
    pieces = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for index, chunk in enumerate(chunks):
            finalize = index == len(chunks) - 1
            mel, source = chunk, torch.zeros(1, 1, 0)
            if cache is not None:
                mel, source = torch.cat([cache["mel"], chunk], dim=2), cache["source"]
            speech, new_source = reference.inference(speech_feat=mel, cache_source=source)
            if cache is not None:
                speech = common.fade_in_out(speech, cache["speech"], window)
            if not finalize:
                cache = {
                    "mel": mel[:, :, -8:],
                    "source": new_source[:, :, -OVERLAP:],
                    "speech": speech[:, -OVERLAP:],
                }
                speech = speech[:, :-OVERLAP]
            pieces.append(speech)
    return pieces


def our_stream(model: HiFT, chunks: Sequence[torch.Tensor], seed: int) -> list[torch.Tensor]:
    state = model.start_stream(seeded(seed))
    return [
        model.stream_step(state, chunk, last=index == len(chunks) - 1)
        for index, chunk in enumerate(chunks)
    ]


def split(mel: torch.Tensor, sizes: Sequence[int]) -> list[torch.Tensor]:
    return list(torch.split(mel, list(sizes), dim=2))


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return float((a - b).abs().max())


@pytest.fixture(scope="module")
def pair() -> tuple[Any, HiFT]:
    reference = reference_hift(debug(), seed=0)
    return reference, HiFT.from_reference_state(reference.state_dict(), debug())


def test_presets_and_config_checks() -> None:
    assert set(PRESETS) == {"cosyvoice2", "debug"}
    for preset in PRESETS.values():
        config = preset()
        assert (config.hop, config.frequency_bins, config.harmonics) == (480, 9, 9)
        assert HiFTConfig.from_dict(config.to_dict()) == config
    official = cosyvoice2()
    assert [official.stage_channels(s) for s in range(3)] == [256, 128, 64]
    with pytest.raises(ValueError, match="one entry per stage"):
        HiFTConfig(upsample_rates=(8, 5))
    with pytest.raises(ValueError, match="divisible by 8"):
        HiFTConfig(base_channels=36)
    with pytest.raises(ValueError, match="unknown key"):
        HiFTConfig.from_dict({"hop_len": 4})


def test_loads_both_weight_norm_forms_strictly(pair: tuple[Any, HiFT]) -> None:
    reference, ours = pair
    new = reference.state_dict()
    assert any(k.endswith("parametrizations.weight.original0") for k in new)
    old = old_weight_norm_keys(new)
    assert any(k.endswith(".weight_g") for k in old)
    assert not any("parametrizations" in k for k in old)
    from_old = HiFT.from_reference_state(old, debug())
    # training checkpoints nest the generator under ``generator.``
    nested = HiFT.from_reference_state({f"generator.{k}": v for k, v in old.items()}, debug())
    # every parameter of ours was set (a strict load), and the folded weights are bit for bit
    # what the reference's parametrisation computes at each call
    assert len(ours.state_dict()) == len(fold_weight_norm(new)[0])
    for name, weight in (
        ("conv_pre.weight", reference.conv_pre.weight),
        ("ups.2.weight", reference.ups[2].weight),
        ("resblocks.4.convs1.1.weight", reference.resblocks[4].convs1[1].weight),
        ("f0_predictor.convs.4.weight", reference.f0_predictor.condnet[8].weight),
        ("source.merge.weight", reference.m_source.l_linear.weight),
    ):
        assert torch.equal(ours.state_dict()[name], weight.detach()), name
    for other in (from_old, nested):
        for key, value in ours.state_dict().items():
            assert torch.equal(other.state_dict()[key], value), key
    mel = random_mel(40, seed=1)
    waves = [m(mel, generators=[seeded(3)]).wave for m in (ours, from_old, nested)]
    assert torch.equal(waves[0], waves[1])
    assert torch.equal(waves[0], waves[2])
    assert float(waves[0].std()) > 0.02  # not a degenerate (silent) vocoder


def test_loading_names_missing_and_unexpected_keys(pair: tuple[Any, HiFT]) -> None:
    state = pair[0].state_dict()
    lacking = {k: v for k, v in state.items() if k != "conv_post.parametrizations.weight.original0"}
    with pytest.raises(ValueError, match=r"missing \['conv_post.parametrizations"):
        HiFT.from_reference_state(lacking, debug())
    with pytest.raises(ValueError, match=r"unexpected \['extra\.bias'\]"):
        HiFT.from_reference_state({**state, "extra.bias": torch.zeros(1)}, debug())
    with pytest.raises(ValueError, match="does not fit the config"):
        HiFT.from_reference_state(state, cosyvoice2())


def test_equals_the_reference_inference(pair: tuple[Any, HiFT]) -> None:
    reference, ours = pair
    mel = random_mel(400, seed=2)  # 8 s: the sines' phase sums to some 1e5 radians
    expected, expected_source = reference_inference(reference, mel, seed=7)
    got = ours(mel, generators=[seeded(7)])
    difference = max_diff(got.wave, expected)
    print(f"HiFT offline: max abs difference {difference:.2e}")
    assert difference <= 1e-4
    assert max_diff(got.source, expected_source) <= 1e-6
    # the random source does shape the output: another seed is audibly different, so the
    # equality above rests on drawing the same numbers
    other = ours(mel, generators=[seeded(8)]).wave
    assert max_diff(other, expected) > 1e-2
    # a generator goes on where it stopped, as the global RNG does between reference calls
    generator = seeded(7)
    ours(mel, generators=[generator])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(7)
        reference.inference(speech_feat=mel)
        second = reference.inference(speech_feat=mel)[0]
    assert max_diff(ours(mel, generators=[generator]).wave, second) <= 1e-4


def test_cached_source_equals_the_reference(pair: tuple[Any, HiFT]) -> None:
    reference, ours = pair
    mel = random_mel(30, seed=3)
    cache = 0.05 * torch.randn(1, 1, OVERLAP, generator=seeded(4))
    expected, expected_source = reference_inference(reference, mel, seed=9, cache=cache)
    got = ours(mel, generators=[seeded(9)], cache_sources=[cache])
    assert torch.equal(got.source[0, 0, :OVERLAP], cache[0, 0])
    assert max_diff(got.source, expected_source) <= 1e-6
    difference = max_diff(got.wave, expected)
    print(f"HiFT with a cached source: max abs difference {difference:.2e}")
    assert difference <= 1e-4


def test_padded_batch_gives_each_item_its_lone_result(pair: tuple[Any, HiFT]) -> None:
    _, ours = pair
    lengths = [64, 37, 11]
    mels = [random_mel(n, seed=10 + i) for i, n in enumerate(lengths)]
    batch = torch.zeros(3, 80, max(lengths))
    for i, mel in enumerate(mels):
        batch[i, :, : lengths[i]] = mel[0]
    # padding that is not zero must not leak into the items either
    batch[1, :, lengths[1] :] = 3.0
    out = ours(batch, torch.tensor(lengths), generators=[seeded(20 + i) for i in range(3)])
    assert out.wave.shape == (3, max(lengths) * HOP)
    assert out.source.shape == (3, 1, max(lengths) * HOP)
    worst = 0.0
    for i, (mel, n) in enumerate(zip(mels, lengths, strict=True)):
        alone = ours(mel, generators=[seeded(20 + i)])
        worst = max(worst, max_diff(out.wave[i, : n * HOP], alone.wave[0]))
        assert max_diff(out.source[i, 0, : n * HOP], alone.source[0, 0]) <= 1e-6
        assert not out.wave[i, n * HOP :].any()
        assert not out.source[i, 0, n * HOP :].any()
    print(f"HiFT padded batch: max abs difference {worst:.2e}")
    assert worst <= 1e-5


@pytest.mark.filterwarnings(FADE_WARNING)
def test_stream_equals_the_official_streaming(pair: tuple[Any, HiFT]) -> None:
    reference, ours = pair
    mel = random_mel(sum(CHUNKS), seed=5)
    expected = reference_stream(reference, split(mel, CHUNKS), seed=11)
    got = our_stream(ours, split(mel, CHUNKS), seed=11)
    assert [p.shape for p in got] == [p.shape for p in expected]
    # the first two hold 8 frames back; the last gives everything left
    assert [p.shape[1] for p in got] == [(50 - 8) * HOP, 100 * HOP, (43 + 8) * HOP]
    difference = max(max_diff(a, b) for a, b in zip(got, expected, strict=True))
    print(f"HiFT streaming: max abs difference {difference:.2e}")
    assert difference <= 1e-4


def test_one_last_chunk_is_the_offline_output(pair: tuple[Any, HiFT]) -> None:
    _, ours = pair
    mel = random_mel(33, seed=6)
    state = ours.start_stream(seeded(12))
    streamed = ours.stream_step(state, mel, last=True)
    assert torch.equal(streamed, ours(mel, generators=[seeded(12)]).wave)
    assert state.finished


def low_passed(model: HiFT) -> HiFT:
    """A copy of ``model`` whose output is smooth from sample to sample: only the two lowest
    STFT bins (0 and 1.5 kHz) keep a magnitude, phases near 0. Random weights otherwise give
    near-white output, whose sample-to-sample steps are as large as the signal and would hide
    any jump at a join."""
    smooth = copy.deepcopy(model)
    bins = model.config.frequency_bins
    bias = torch.zeros(2 * bins)
    bias[2:bins] = -10.0  # magnitude e^-10: those bins silent
    assert smooth.conv_post.bias is not None
    with torch.no_grad():
        smooth.conv_post.weight.mul_(0.2)
        smooth.conv_post.bias.copy_(bias)
    return smooth


def join_steps(pieces: Sequence[torch.Tensor]) -> tuple[float, float]:
    """Largest ``|x[n+1] - x[n]|`` of the joined pieces around each join (a frame before it to
    the end of the cross-fade after it) and elsewhere."""
    wave = torch.cat(list(pieces), dim=1)[0]
    steps = wave.diff().abs()
    near = torch.zeros_like(steps, dtype=torch.bool)
    for join in np.cumsum([p.shape[1] for p in pieces[:-1]]):
        near[join - HOP : join + OVERLAP + HOP] = True
    return float(steps[near].max()), float(steps[~near].max())


def test_stream_joins_are_smooth(pair: tuple[Any, HiFT], monkeypatch: pytest.MonkeyPatch) -> None:
    smooth = low_passed(pair[1])
    frames = sum(CHUNKS)
    mel = smooth_mel(frames, seed=7)
    pieces = our_stream(smooth, split(mel, CHUNKS), seed=13)
    offline = smooth(mel, generators=[seeded(13)]).wave
    assert sum(p.shape[1] for p in pieces) == offline.shape[1] == frames * HOP
    at_joins, inside = join_steps(pieces)
    print(f"HiFT stream joins: max step {at_joins:.2e} at joins, {inside:.2e} inside")
    assert at_joins <= inside
    assert float(torch.cat(pieces, dim=1).abs().max()) > 2 * inside  # steps small vs signal
    # the check sees a bad join: a hard cut to the new chunk, or the old tail kept unfaded
    for bad in (lambda wave, tail: wave, lambda wave, tail: torch.cat([tail, wave[len(tail) :]])):
        monkeypatch.setattr(smooth, "_cross_fade", bad)
        bad_joins, bad_inside = join_steps(our_stream(smooth, split(mel, CHUNKS), seed=13))
        assert bad_joins > 2 * bad_inside
    # on the plain random weights too (a weaker check: their output is near-white)
    assert operator.le(*join_steps(our_stream(pair[1], split(mel, CHUNKS), seed=13)))


def test_bad_inputs_raise_naming_the_problem(pair: tuple[Any, HiFT]) -> None:
    _, ours = pair
    mel = random_mel(20, seed=8, items=2)
    with pytest.raises(AudiotokError, match=r"mel must be \[B, 80, T\], got \[80, 20\]"):
        ours(mel[0])
    with pytest.raises(AudiotokError, match=r"mel must be \[B, 80, T\], got \[2, 40, 20\]"):
        ours(mel[:, :40])
    for lengths in ([20, 21], [-1, 5], [20], [20.0, 2.5]):
        with pytest.raises(AudiotokError, match=r"lengths must be 2 frame counts in \[0, 20\]"):
            ours(mel, torch.tensor(lengths))
    with pytest.raises(AudiotokError, match=r"generators needs one entry per item \(2\), got 1"):
        ours(mel, generators=[seeded(0)])
    with pytest.raises(AudiotokError, match="cached source of 9601 samples is longer"):
        ours(mel[:1], cache_sources=[torch.zeros(20 * HOP + 1)])
    state = ours.start_stream(seeded(0))
    with pytest.raises(AudiotokError, match="one request a stream, got a batch of 2"):
        ours.stream_step(state, mel, last=False)
    with pytest.raises(AudiotokError, match="first chunk needs 8 mel frames"):
        ours.stream_step(state, mel[:1, :, :5], last=False)
    with pytest.raises(AudiotokError, match=r"mel must be \[B, 80, T\]"):
        ours.stream_step(state, mel[:1, :40], last=False)
    ours.stream_step(state, mel[:1], last=False)
    ours.stream_step(state, mel[:1], last=True)
    with pytest.raises(AudiotokError, match="a step after the last one"):
        ours.stream_step(state, mel[:1], last=True)


def test_empty_mels_give_no_samples(pair: tuple[Any, HiFT]) -> None:
    _, ours = pair
    empty = ours(torch.zeros(2, 80, 0))
    assert empty.wave.shape == (2, 0)
    assert empty.source.shape == (2, 1, 0)
    mel = random_mel(9, seed=15, items=2)
    out = ours(mel, torch.tensor([9, 0]), generators=[seeded(1), seeded(2)])
    assert not out.wave[1].any()
    assert max_diff(out.wave[:1], ours(mel[:1], generators=[seeded(1)]).wave) <= 1e-5
    state = ours.start_stream(seeded(0))
    assert ours.stream_step(state, torch.zeros(1, 80, 0), last=True).shape == (1, 0)


@pytest.fixture(scope="module")
def full_pair() -> tuple[Any, HiFT]:
    config = cosyvoice2()
    assert (config.base_channels, config.f0_channels) == (512, OFFICIAL_F0_CHANNELS)
    reference = reference_hift(config, seed=1)
    return reference, HiFT.from_reference_state(reference.state_dict(), config)


@pytest.mark.slow
def test_full_size_equals_the_reference(full_pair: tuple[Any, HiFT]) -> None:
    reference, ours = full_pair
    from_old = HiFT.from_reference_state(old_weight_norm_keys(reference.state_dict()), cosyvoice2())
    mel = random_mel(500, seed=9)  # 10 s
    expected, _ = reference_inference(reference, mel, seed=14)
    got = ours(mel, generators=[seeded(14)]).wave
    difference = max_diff(got, expected)
    print(f"full-size HiFT offline: max abs difference {difference:.2e}")
    assert difference <= 1e-4
    assert float(got.std()) > 0.02
    assert torch.equal(from_old(mel, generators=[seeded(14)]).wave, got)


@pytest.mark.slow
@pytest.mark.filterwarnings(FADE_WARNING)
def test_full_size_stream_equals_the_official_streaming(full_pair: tuple[Any, HiFT]) -> None:
    reference, ours = full_pair
    mel = random_mel(300, seed=10)
    sizes = (50, 100, 150)
    expected = reference_stream(reference, split(mel, sizes), seed=15)
    got = our_stream(ours, split(mel, sizes), seed=15)
    difference = max(max_diff(a, b) for a, b in zip(got, expected, strict=True))
    print(f"full-size HiFT streaming: max abs difference {difference:.2e}")
    assert difference <= 1e-4


@pytest.mark.slow
def test_full_size_padded_batch(full_pair: tuple[Any, HiFT]) -> None:
    _, ours = full_pair
    lengths = [200, 131, 17]
    mels = [random_mel(n, seed=30 + i) for i, n in enumerate(lengths)]
    batch = torch.zeros(3, 80, max(lengths))
    for i, mel in enumerate(mels):
        batch[i, :, : lengths[i]] = mel[0]
    out = ours(batch, torch.tensor(lengths), generators=[seeded(40 + i) for i in range(3)])
    worst = 0.0
    for i, (mel, n) in enumerate(zip(mels, lengths, strict=True)):
        alone = ours(mel, generators=[seeded(40 + i)]).wave[0]
        worst = max(worst, max_diff(out.wave[i, : n * HOP], alone))
        assert not out.wave[i, n * HOP :].any()
    print(f"full-size HiFT padded batch: max abs difference {worst:.2e}")
    assert worst <= 1e-5
