"""S3 encoding on debug models: specs, batch == one by one, long inputs in windows."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from audiotok.tokenizers import get_tokenizer, list_tokenizers
from audiotok.tokenizers.s3 import S3Tokenizer, get_config
from audiotok.tokenizers.s3.windows import Window, bucket, plan_windows

SPECS = {  # spec -> (frame rate, codebook size, mel frames per token)
    "s3-v1-50hz": (50.0, 4096, 2),
    "s3-v1-25hz": (25.0, 4096, 4),
    "s3-v2": (25.0, 6561, 4),
    "s3-v3": (25.0, 6561, 4),
}
_CACHE: dict[str, S3Tokenizer] = {}


def debug(spec: str) -> S3Tokenizer:
    if spec not in _CACHE:
        with pytest.warns(UserWarning, match="RANDOMLY"):
            tokenizer = get_tokenizer(spec, debug=True)
        assert isinstance(tokenizer, S3Tokenizer)
        _CACHE[spec] = tokenizer
    return _CACHE[spec]


def noise(seconds: float, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return 0.1 * torch.randn(round(seconds * 16000), generator=generator)


def test_specs_are_registered_with_their_figures() -> None:
    infos = {info.spec: info for info in list_tokenizers() if info.spec.startswith("s3-")}
    assert set(infos) == set(SPECS)
    for spec, (rate, size, _) in SPECS.items():
        info = infos[spec]
        assert (info.frame_rate, info.codebook_size, info.num_codebooks) == (rate, size, 1)
        assert info.needs_weights and not info.can_decode
        assert math.isclose(info.nominal_bitrate, rate * math.log2(size))
    with pytest.raises(ValueError, match="no option"):
        get_tokenizer("s3-v2@fast", debug=True)


@pytest.mark.parametrize("spec", list(SPECS))
def test_token_counts_and_ranges(spec: str) -> None:
    tokenizer = debug(spec)
    rate, size, stride = SPECS[spec]
    waves = [noise(s, i) for i, s in enumerate((0.005, 0.0125, 0.5, 1.003, 2.0))]
    for wave, tokens in zip(waves, tokenizer.encode(waves, 16000), strict=True):
        frames = wave.shape[0] // 160
        assert tokens.codes.shape == (1, math.ceil(frames / stride))
        assert tokens.frame_rate == rate and tokens.num_samples == wave.shape[0]
        assert all(0 <= code < size for code in tokens.codes[0].tolist())
    with pytest.raises(NotImplementedError):
        tokenizer.decode(tokenizer.encode(waves[-1:], 16000))


@pytest.mark.parametrize("spec", ["s3-v1-50hz", "s3-v2"])
def test_batch_gives_every_item_its_batch_of_one_codes(spec: str) -> None:
    tokenizer = debug(spec)
    seconds = (0.5, 12.0, 3.3, 7.01, 1.0, 34.0)  # 34 s: two windows sharing batches
    waves = [noise(s, 10 + i) for i, s in enumerate(seconds)]
    batched = tokenizer.encode(waves, 16000)
    for wave, tokens in zip(waves, batched, strict=True):
        alone = tokenizer.encode([wave], 16000)[0]
        assert torch.equal(tokens.codes, alone.codes)
    assert len(set(batched[1].codes[0].tolist())) > 20


@pytest.mark.parametrize(
    ("spec", "seconds", "expected"),
    [
        ("s3-v2", 52.4, 1310),  # the reference gives 1260 here
        ("s3-v1-50hz", 52.4, 2620),
        ("s3-v1-25hz", 180.0, 4500),
        ("s3-v1-50hz", 180.0, 9000),
    ],
)
def test_long_inputs_get_exactly_the_implied_count(
    spec: str, seconds: float, expected: int
) -> None:
    tokens = debug(spec).encode([noise(seconds)], 16000)[0]
    assert tokens.codes.shape == (1, expected)


def test_windows_merge_without_lost_or_repeated_frames() -> None:
    # Without blocks a token sees only a few mel frames, so windowed codes must equal one
    # full-length pass exactly: any shifted, dropped or repeated frame would show.
    config = dataclasses.replace(get_config("v2_debug"), blocks=0, name="conv_only")
    with pytest.warns(UserWarning):
        tokenizer = S3Tokenizer.random(config, "s3-v2")
    for seconds in (52.4, 61.37, 95.0):
        wave = noise(seconds, 3)
        mel = tokenizer.log_mel(wave)
        full, _ = tokenizer.model.quantize(mel[None], torch.tensor([mel.shape[-1]]))
        windowed = tokenizer.encode([wave], 16000)[0].codes[0]
        assert windowed.shape[0] == math.ceil(mel.shape[-1] / 4)
        assert torch.equal(windowed, full[0])
        assert len(set(windowed.tolist())) > 20


def test_kept_codes_are_each_windows_own_codes() -> None:
    tokenizer = debug("s3-v2")
    wave = noise(70.0, 5)
    mel = tokenizer.log_mel(wave)
    merged = tokenizer.encode([wave], 16000)[0].codes[0]
    config = tokenizer.s3_config
    windows = plan_windows(0, mel.shape[-1], 3000, 400, 4, config.num_tokens)
    assert len(windows) == 3
    position = 0
    for win in windows:
        part = mel[None, :, win.start : win.start + win.length]
        codes, _ = tokenizer.model.quantize(part, torch.tensor([win.length]))
        kept = codes[0, win.keep_from : win.keep_to]
        assert win.start // 4 + win.keep_from == position  # contiguous, no gap or overlap
        assert torch.equal(merged[position : position + kept.shape[0]], kept)
        position += kept.shape[0]
    assert position == merged.shape[0]


def test_plan_windows_covers_every_token_once() -> None:
    num_tokens = get_config("v2").num_tokens
    for frames in (3000, 3001, 5240, 5604, 18000, 360_000):
        windows = plan_windows(0, frames, 3000, 400, 4, num_tokens)
        covered = []
        for win in windows:
            assert win.length <= 3000 and win.start % 4 == 0
            covered.extend(range(win.start // 4 + win.keep_from, win.start // 4 + win.keep_to))
            if len(windows) > 1:  # every kept token has >= 1.9 s of context on both sides
                assert win.keep_from >= (50 if win.start else 0) - 1
        assert covered == list(range(num_tokens(frames)))
        assert windows[-1].start + windows[-1].length == frames


def test_bucket_bounds_the_padded_frames_of_a_batch() -> None:
    windows = [Window(i, 0, n, 0, 0) for i, n in enumerate([3000, 100, 2999, 50, 700, 3000, 10])]
    batches = bucket(windows, 6000)
    assert sorted(w.item for b in batches for w in b) == list(range(7))
    for batch in batches:
        assert len(batch) * max(w.length for w in batch) <= 6000
        assert batch[0].length == max(w.length for w in batch)


def test_bf16_precision_mostly_agrees_with_exact_codes() -> None:
    """The fast mode trades exactness for speed; its agreement must stay high."""
    import warnings

    from tests.signals import speech_like

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tokenizer = get_tokenizer("s3-v2", debug=True)
    waves = [torch.from_numpy(speech_like(s, 16000, seed=i)) for i, s in enumerate((2.0, 3.1))]
    exact = [t.codes for t in tokenizer.encode(waves, 16000)]
    tokenizer.precision = "bf16"
    fast = [t.codes for t in tokenizer.encode(waves, 16000)]
    tokenizer.precision = "fp32"
    for a, b in zip(exact, fast, strict=True):
        assert a.shape == b.shape
        assert (a == b).float().mean() > 0.5
