"""Neural codecs on tiny random (``debug=True``) models: shapes, arithmetic, batching, weights.

No checkpoint can be downloaded in tests, so every model here is a randomly initialised one
with the real strides and codebooks; the codes mean nothing, but frame counts, code ranges,
bitrates and batch/one-by-one agreement are the same as with real weights.
"""

from __future__ import annotations

import math
import time
import warnings
from pathlib import Path

import pytest
import torch

from audiotok.errors import TokenizerSpecError, WeightsNotFoundError
from audiotok.tokenizers import get_tokenizer
from audiotok.tokenizers.neural import HFCodecTokenizer

# spec -> (sample rate, hop, frame rate, codebooks, bits per code, nominal bitrate)
EXPECTED = {
    "encodec-24khz@1.5kbps": (24000, 320, 75.0, 2, 10, 1500.0),
    "encodec-24khz@3kbps": (24000, 320, 75.0, 4, 10, 3000.0),
    "encodec-24khz@6kbps": (24000, 320, 75.0, 8, 10, 6000.0),
    "encodec-24khz@12kbps": (24000, 320, 75.0, 16, 10, 12000.0),
    "encodec-24khz@24kbps": (24000, 320, 75.0, 32, 10, 24000.0),
    "dac-16khz": (16000, 320, 50.0, 12, 10, 6000.0),
    "dac-24khz": (24000, 320, 75.0, 32, 10, 24000.0),
    "dac-44khz": (44100, 512, 44100 / 512, 9, 10, 44100 / 512 * 90),
    "dac-16khz@4": (16000, 320, 50.0, 4, 10, 2000.0),
    "mimi@8": (24000, 1920, 12.5, 8, 11, 1100.0),
    "mimi@32": (24000, 1920, 12.5, 32, 11, 4400.0),
    "mimi": (24000, 1920, 12.5, 8, 11, 1100.0),
    "xcodec2": (16000, 320, 50.0, 1, 16, 800.0),
}

# One representative per family for the slower batching checks.
FAMILIES = ["encodec-24khz@6kbps", "dac-16khz", "dac-44khz", "mimi@8", "xcodec2"]

_CACHE: dict[str, HFCodecTokenizer] = {}


def debug_tokenizer(spec: str) -> HFCodecTokenizer:
    """Tiny random tokenizer, built once per spec (building is most of the cost)."""
    if spec not in _CACHE:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tokenizer = get_tokenizer(spec, debug=True)
        assert isinstance(tokenizer, HFCodecTokenizer)
        _CACHE[spec] = tokenizer
    return _CACHE[spec]


def waves_for(tokenizer: HFCodecTokenizer, seconds: tuple[float, ...]) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(7)
    sr = tokenizer.sample_rate
    # +17 samples: lengths that are not whole frames, so the last frame is partial.
    return [0.1 * torch.randn(int(s * sr) + 17, generator=generator) for s in seconds]


@pytest.mark.parametrize("spec", list(EXPECTED))
def test_encode_decode_shapes_and_arithmetic(spec: str) -> None:
    sr, hop, frame_rate, count, bits, bitrate = EXPECTED[spec]
    tokenizer = debug_tokenizer(spec)
    assert (tokenizer.sample_rate, tokenizer.frame_rate) == (sr, frame_rate)
    assert frame_rate * hop == sr
    assert tokenizer.codebook_sizes == (2**bits,) * count
    assert tokenizer.nominal_bitrate == pytest.approx(bitrate)
    assert tokenizer.nominal_bitrate == pytest.approx(frame_rate * count * bits)

    waves = waves_for(tokenizer, (0.4, 0.25, 0.1))
    tokens = tokenizer.encode(waves, sr)
    assert len(tokens) == len(waves)
    for wave, item in zip(waves, tokens, strict=True):
        assert item.codes.dtype == torch.long
        assert tuple(item.codes.shape) == (count, math.ceil(wave.numel() / hop))
        assert int(item.codes.min()) >= 0 and int(item.codes.max()) < 2**bits
        assert item.num_samples == wave.numel() and item.spec == tokenizer.spec
        assert item.bitrate == pytest.approx(bitrate)
    decoded = tokenizer.decode(tokens)
    assert [d.shape[-1] for d in decoded] == [w.numel() for w in waves]
    assert all(d.dtype == torch.float32 and torch.isfinite(d).all() for d in decoded)


@pytest.mark.parametrize("spec", FAMILIES)
def test_codes_are_not_degenerate(spec: str) -> None:
    # Guards the debug models: random inits that map every frame to one code would make the
    # batching test below pass vacuously.
    tokenizer = debug_tokenizer(spec)
    (item,) = tokenizer.encode(waves_for(tokenizer, (0.5,)), tokenizer.sample_rate)
    assert item.codes[0].unique().numel() > 1


@pytest.mark.parametrize("spec", FAMILIES)
def test_batched_matches_one_by_one(spec: str) -> None:
    tokenizer = debug_tokenizer(spec)
    hop = tokenizer.codec_config.hop_length
    # Items of at least 8 frames: EnCodec's reflect padding of very short inputs (< 7
    # frames at its last conv) wraps around to the padded end, which is a real quirk.
    waves = waves_for(tokenizer, tuple(s * hop / tokenizer.sample_rate for s in (30, 17, 8)))
    batched = tokenizer.encode(waves, tokenizer.sample_rate)
    single = [tokenizer.encode([w], tokenizer.sample_rate)[0] for w in waves]
    body, total = [], []
    for one, alone in zip(batched, single, strict=True):
        assert one.codes.shape == alone.codes.shape
        agree = (one.codes == alone.codes).float()  # [K, T]
        body.append(agree[:, :-2].flatten())
        total.append(agree.flatten())
    # Non-causal models (DAC, X-codec2) see the batch's zero padding in the receptive field
    # of an item's last frame or two, where a lone item sees its own shorter padding, so
    # those frames may differ; causal ones (EnCodec, Mimi) do not care. Elsewhere only
    # float rounding differs between batch shapes, which flips the odd near-tie argmin in
    # a residual codebook: hence fractions, not equality.
    assert torch.cat(body).mean() >= 0.98
    assert torch.cat(total).mean() >= 0.9

    decoded = tokenizer.decode(batched)
    decoded_single = [tokenizer.decode([t])[0] for t in batched]
    for wave, alone in zip(decoded, decoded_single, strict=True):
        # Same codes in, same audio out (to 0.1% of the peak), except where a non-causal
        # decoder sees the batch's padded frames: the last two frames' worth of samples.
        body = slice(0, max(0, wave.numel() - 2 * hop))
        peak = float(alone.abs().max())
        torch.testing.assert_close(wave[body], alone[body], atol=1e-3 * peak + 1e-6, rtol=1e-3)


def test_missing_weights_fail_fast_naming_spec_and_id() -> None:
    started = time.monotonic()
    with pytest.raises(WeightsNotFoundError) as info:
        get_tokenizer("encodec-24khz@6kbps")  # HF_HUB_OFFLINE=1 (tests/conftest.py)
    assert time.monotonic() - started < 30
    assert "encodec-24khz@6kbps" in str(info.value)
    assert "facebook/encodec_24khz" in str(info.value)


def test_local_directory_weights_round_trip(tmp_path: Path) -> None:
    spec = "encodec-24khz@6kbps"
    debug = debug_tokenizer(spec)
    debug.model.save_pretrained(tmp_path)
    loaded = get_tokenizer(spec, weights=tmp_path)
    assert isinstance(loaded, HFCodecTokenizer) and not loaded.model.training
    waves = waves_for(debug, (0.3, 0.2))
    for a, b in zip(debug.encode(waves, 24000), loaded.encode(waves, 24000), strict=True):
        assert torch.equal(a.codes, b.codes)


def test_local_directory_without_safetensors_lists_what_is_missing(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(WeightsNotFoundError, match=r"\*\.safetensors"):
        get_tokenizer("mimi@8", weights=tmp_path)


def test_wrong_checkpoint_is_refused(tmp_path: Path) -> None:
    debug_tokenizer("dac-16khz").model.save_pretrained(tmp_path)
    with pytest.raises(WeightsNotFoundError, match="another model"):
        get_tokenizer("dac-44khz", weights=tmp_path)


@pytest.mark.parametrize(
    "spec",
    ["encodec-24khz@5kbps", "encodec-24khz", "mimi@99", "mimi@0", "dac-44khz@10", "xcodec2@2"],
)
def test_invalid_options_raise_spec_error(spec: str) -> None:
    with pytest.raises(TokenizerSpecError):
        get_tokenizer(spec, debug=True)


def test_debug_and_weights_together_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not both"):
        get_tokenizer("mimi@8", debug=True, weights=tmp_path)


def test_debug_models_warn_that_weights_are_random() -> None:
    with pytest.warns(UserWarning, match="RANDOMLY"):
        get_tokenizer("dac-16khz@2", debug=True)


def test_mimi_device_move_forgets_cached_codebooks() -> None:
    tokenizer = debug_tokenizer("mimi@8")
    waves = waves_for(tokenizer, (0.2,))
    before = tokenizer.encode(waves, 24000)[0].codes
    assert tokenizer.to("cpu") is tokenizer and tokenizer.device == torch.device("cpu")
    assert torch.equal(tokenizer.encode(waves, 24000)[0].codes, before)


def test_kaldi_fbank_matches_transformers_reference() -> None:
    # X-codec2's semantic features are computed in torch (torchaudio is unavailable); check
    # them against transformers' numpy Kaldi-style spectrogram, as used by SeamlessM4T.
    from transformers.audio_utils import spectrogram, window_function

    from audiotok.tokenizers.neural.xcodec2 import _mel_banks, kaldi_fbank

    wave = 0.1 * torch.randn(4000, generator=torch.Generator().manual_seed(3)) * 2**15
    ours = kaldi_fbank(wave)
    reference = spectrogram(
        wave.numpy(),
        window_function(400, "povey", periodic=False),
        frame_length=400,
        hop_length=160,
        fft_length=512,
        power=2.0,
        center=False,
        preemphasis=0.97,
        mel_filters=_mel_banks(torch.device("cpu")).numpy(),
        log_mel="log",
        mel_floor=1.192092955078125e-07,
        remove_dc_offset=True,
    ).T
    torch.testing.assert_close(ours, torch.from_numpy(reference).float(), atol=1e-3, rtol=1e-4)
