"""Classic codecs (PyAV families and Codec 2): bitstream tokens, bitrate, quality, alignment."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from audiotok.audio.resample import resample
from audiotok.tokenizers import AudioTokenizer, get_tokenizer, list_tokenizers
from audiotok.tokenizers.classic._bitstream import estimate_lag
from audiotok.tokenizers.classic.codec2 import _pack, _unpack
from audiotok.tokenizers.registry import parse_spec
from audiotok.tokens import Tokens
from tests.signals import speech_like

FAMILIES = {"opus", "mp3", "aac", "amrnb", "g722", "mulaw", "codec2"}


@dataclass(frozen=True)
class Floor:
    """Quality floors on the 4 s speech-like signal.

    snr_db: waveform SNR (None for codecs that do not keep the waveform: AMR-NB's high-pass
    pre-filter shifts the phase of low harmonics, Codec 2 synthesises its own phase).
    spectral: correlation of log-magnitude spectrograms (a shifted signal scores about 0.45).
    """

    snr_db: float | None
    spectral: float


# Measured values in comments (SNR dB / spectral correlation); floors leave some margin.
FLOORS = {
    "opus@6kbps": Floor(4.0, 0.72),  # 7.1 / 0.80
    "opus@12kbps": Floor(9.0, 0.78),  # 13.6 / 0.86
    "opus@24kbps": Floor(12.0, 0.82),  # 17.7 / 0.90
    "mp3@32kbps": Floor(15.0, 0.88),  # 21.8 / 0.95
    "mp3@64kbps": Floor(18.0, 0.88),  # 24.4 / 0.95
    "aac@32kbps": Floor(15.0, 0.88),  # 20.1 / 0.96
    "aac@64kbps": Floor(25.0, 0.9),  # 32.7 / 0.96
    "amrnb@12.2kbps": Floor(None, 0.77),  # - / 0.85
    "amrnb@4.75kbps": Floor(None, 0.74),  # - / 0.82
    "g722": Floor(25.0, 0.95),  # 30.7 / 0.99
    "mulaw": Floor(30.0, 0.95),  # 37.4 / 0.99
    "codec2@3200": Floor(None, 0.68),  # - / 0.76
    "codec2@1600": Floor(None, 0.67),  # - / 0.75
    "codec2@700": Floor(None, 0.65),  # - / 0.74
}
SPECS = list(FLOORS)
BITRATE_TOLERANCE = 0.15


# ---- helpers ------------------------------------------------------------------------------
def _build(spec: str) -> AudioTokenizer:
    reason = parse_spec(spec)[0].cls.availability()
    if reason is not None:
        pytest.skip(f"{spec} unavailable: {reason}")
    return get_tokenizer(spec)


def _snr_db(reference: np.ndarray, decoded: np.ndarray) -> float:
    noise = np.sum((reference - decoded) ** 2)
    return float(10 * np.log10(np.sum(reference**2) / max(noise, 1e-20)))


def _log_spectrogram(x: np.ndarray, sample_rate: int) -> np.ndarray:
    """``[frames, bins]`` log power, 32 ms Hann windows every 10 ms, bins below 3.8 kHz."""
    size, hop = int(0.032 * sample_rate), int(0.01 * sample_rate)
    frames = np.stack([x[i : i + size] for i in range(0, x.size - size, hop)])
    power = np.abs(np.fft.rfft(frames * np.hanning(size), axis=1)) ** 2
    keep = np.fft.rfftfreq(size, 1 / sample_rate) < 3800
    return np.log10(power[:, keep] + 1e-8)


def _spectral_corr(reference: np.ndarray, decoded: np.ndarray, sample_rate: int) -> float:
    a = _log_spectrogram(reference, sample_rate).ravel()
    b = _log_spectrogram(decoded, sample_rate).ravel()
    return float(np.corrcoef(a, b)[0, 1])


def _plain_xcorr_lag(reference: np.ndarray, decoded: np.ndarray, max_lag: int) -> int:
    """Peak of the plain cross-correlation over lags ``[-max_lag, max_lag]``."""
    size = 1 << int(np.ceil(np.log2(reference.size + decoded.size)))
    spectrum = np.fft.rfft(decoded, size) * np.conj(np.fft.rfft(reference, size))
    corr = np.fft.irfft(spectrum, size)
    lags = np.arange(-max_lag, max_lag + 1)
    return int(lags[np.argmax(corr[lags])])


@dataclass
class RoundTrip:
    tokenizer: AudioTokenizer
    reference: np.ndarray  # the input at the codec's rate
    tokens: Tokens
    decoded: np.ndarray


def _round_trip(tokenizer: AudioTokenizer, audio: np.ndarray, sample_rate: int) -> RoundTrip:
    reference = resample(audio, sample_rate, tokenizer.sample_rate)
    tokens = tokenizer.encode_one(reference, tokenizer.sample_rate)
    decoded = tokenizer.decode([tokens])[0].numpy()
    return RoundTrip(tokenizer, reference, tokens, decoded)


@pytest.fixture(scope="module", params=SPECS)
def speech_trip(request: pytest.FixtureRequest) -> RoundTrip:
    """Each spec's round trip of a 4 s speech-like signal, shared by several tests."""
    return _round_trip(_build(request.param), speech_like(4.0, 16000), 16000)


@pytest.fixture(scope="module")
def real_speech(shared_data: Path) -> tuple[np.ndarray, int]:
    audio, sample_rate = sf.read(shared_data / "real/multilingual/test.wav", dtype="float32")
    return (audio.mean(axis=1) if audio.ndim == 2 else audio), sample_rate


# ---- registry -----------------------------------------------------------------------------
def test_registry_lists_exactly_these_classic_presets() -> None:
    listed = {info.spec for info in list_tokenizers() if parse_spec(info.spec)[0].name in FAMILIES}
    assert listed == set(SPECS)
    for info in list_tokenizers():
        if info.spec in FLOORS:
            assert info.codebook_size == 256 and info.num_codebooks == 1
            assert not info.needs_weights and info.can_decode


@pytest.mark.parametrize(
    "spec", ["opus@5kbps", "opus@12", "mp3@33kbps", "aac@200kbps", "amrnb@12kbps",
             "g722@32kbps", "mulaw@8kbps", "codec2@999", "codec2@fast"],
)  # fmt: skip
def test_bad_options_are_rejected(spec: str) -> None:
    with pytest.raises(ValueError):
        get_tokenizer(spec)


def test_codec2_700_is_mode_700c() -> None:
    assert get_tokenizer("codec2@700").config == get_tokenizer("codec2@700C").config


# ---- encode / decode ----------------------------------------------------------------------
@pytest.mark.parametrize("spec", SPECS)
def test_batch_round_trip_lengths(spec: str) -> None:
    tokenizer = _build(spec)
    stereo = np.stack([speech_like(0.7, 44100), speech_like(0.7, 44100, seed=1)])
    batch = [speech_like(1.0, 16000), speech_like(2.5, 16000, seed=2)]
    tokens = tokenizer.encode(batch, 16000) + tokenizer.encode([stereo], 44100)
    rate = tokenizer.sample_rate
    expected = [round(w.shape[-1] * rate / 16000) for w in batch]
    expected.append(round(stereo.shape[-1] * rate / 44100))
    assert [t.num_samples for t in tokens] == expected
    for item in tokens:
        assert item.spec == spec and item.is_bitstream and item.codebook_sizes == (256,)
        assert int(item.codes.min()) >= 0 and int(item.codes.max()) <= 255
        assert int(item.packet_lengths.sum()) == item.num_frames  # type: ignore[union-attr]
    decoded = tokenizer.decode(tokens)
    assert [d.shape[0] for d in decoded] == expected
    assert all(d.dtype == torch.float32 and torch.isfinite(d).all() for d in decoded)
    # Fresh decoder state per item: decoding an item alone gives the same audio.
    assert torch.equal(tokenizer.decode(tokens[1:2])[0], decoded[1])


@pytest.mark.parametrize("spec", ["opus@12kbps", "mulaw", "codec2@700"])
def test_empty_waveform_names_the_tokenizer(spec: str) -> None:
    with pytest.raises(ValueError, match=spec):
        _build(spec).encode([np.zeros(0, dtype=np.float32)], 16000)


def test_save_load_decodes_identically(speech_trip: RoundTrip, tmp_path: Path) -> None:
    loaded = Tokens.load(speech_trip.tokens.save(tmp_path / "tokens.npz"))
    assert torch.equal(loaded.codes, speech_trip.tokens.codes)
    again = speech_trip.tokenizer.decode([loaded])[0].numpy()
    np.testing.assert_array_equal(again, speech_trip.decoded)


# ---- bitrate ------------------------------------------------------------------------------
def test_measured_bitrate_near_nominal(speech_trip: RoundTrip) -> None:
    tokens, nominal = speech_trip.tokens, speech_trip.tokenizer.nominal_bitrate
    # Tokens.bitrate is 8 * bytes written / seconds of audio.
    assert tokens.bitrate == pytest.approx(8 * tokens.num_frames / tokens.duration)
    assert tokens.bitrate == pytest.approx(nominal, rel=BITRATE_TOLERANCE)


@pytest.mark.parametrize("spec", SPECS)
def test_real_speech_bitrate_and_quality(spec: str, real_speech: tuple[np.ndarray, int]) -> None:
    trip = _round_trip(_build(spec), *real_speech)
    nominal = trip.tokenizer.nominal_bitrate
    assert trip.tokens.bitrate == pytest.approx(nominal, rel=BITRATE_TOLERANCE)
    # Real speech is harder than the synthetic signal: one lower floor for every codec.
    assert _spectral_corr(trip.reference, trip.decoded, trip.tokenizer.sample_rate) > 0.65


# ---- quality ------------------------------------------------------------------------------
def test_reconstruction_quality(speech_trip: RoundTrip) -> None:
    floor = FLOORS[speech_trip.tokenizer.spec]
    rate = speech_trip.tokenizer.sample_rate
    reference, decoded = speech_trip.reference, speech_trip.decoded
    if floor.snr_db is not None:
        assert _snr_db(reference, decoded) > floor.snr_db
    assert _spectral_corr(reference, decoded, rate) > floor.spectral
    # The metric is not a tautology: the same audio shifted by 1/7 s scores far lower.
    assert _spectral_corr(reference, np.roll(decoded, rate // 7), rate) < floor.spectral - 0.15


# ---- alignment ----------------------------------------------------------------------------
def test_decoded_audio_is_time_aligned(speech_trip: RoundTrip) -> None:
    tokenizer = speech_trip.tokenizer
    reference, decoded, rate = speech_trip.reference, speech_trip.decoded, tokenizer.sample_rate
    spec = tokenizer.spec
    if spec.startswith("codec2"):
        # A vocoder: only the amplitude envelope follows the input; allow 5 ms.
        lag = estimate_lag(reference, decoded, rate, "envelope")
        assert abs(lag) <= 0.005 * rate
    elif spec.startswith("amrnb"):
        # AMR-NB's 80 Hz high-pass shifts the low harmonics that dominate a plain
        # cross-correlation (it peaks ~40 samples late); the whitened one finds the delay.
        assert abs(estimate_lag(reference, decoded, rate, "waveform")) <= 1
    else:
        assert abs(_plain_xcorr_lag(reference, decoded, max_lag=rate // 10)) <= 1


@pytest.mark.parametrize("spec", SPECS)
def test_very_short_input(spec: str) -> None:
    tokenizer = _build(spec)
    tokens = tokenizer.encode([np.full(3, 0.1, dtype=np.float32)], tokenizer.sample_rate)
    assert tokenizer.decode(tokens)[0].shape == (3,)


def test_codec2_packing_is_lossless() -> None:
    rng = np.random.default_rng(0)
    for bits, per_packet in ((28, 2), (52, 2), (18, 4), (64, 1)):
        frame_bits = np.zeros((8, 8 * ((bits + 7) // 8)), dtype=np.uint8)
        frame_bits[:, :bits] = rng.integers(0, 2, size=(8, bits))  # c2enc zeroes the rest
        frames = np.packbits(frame_bits, axis=1)
        packets = _pack(frames, bits, per_packet)
        assert all(len(p) == per_packet * bits // 8 for p in packets)
        np.testing.assert_array_equal(_unpack(packets, bits, per_packet), frames)
