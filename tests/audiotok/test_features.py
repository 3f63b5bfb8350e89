from __future__ import annotations

import numpy as np
import pytest
import torch

from audiotok.features import (
    VocoderMelConfig,
    WhisperMelConfig,
    vocoder_log_mel,
    whisper_log_mel,
)
from tests.signals import speech_like


def _transformers_whisper_mel(wave: np.ndarray, n_mels: int) -> np.ndarray:
    from transformers import WhisperFeatureExtractor

    extractor = WhisperFeatureExtractor(feature_size=n_mels)
    # padding="longest" on one item: no padding, so frames = len // hop as in our front end
    out = extractor(wave, sampling_rate=16000, padding="longest", return_tensors="np")
    return out["input_features"][0]


@pytest.mark.parametrize("n_mels", [80, 128])
@pytest.mark.parametrize("seconds", [1.0, 3.37])
def test_whisper_log_mel_matches_transformers(n_mels: int, seconds: float) -> None:
    wave = speech_like(seconds, 16000, seed=3)
    ours, frames = whisper_log_mel(torch.from_numpy(wave), config=WhisperMelConfig(n_mels=n_mels))
    reference = _transformers_whisper_mel(wave, n_mels)
    assert ours.shape == (1, n_mels, len(wave) // 160)
    assert int(frames[0]) == len(wave) // 160
    assert reference.shape == ours.shape[1:]
    np.testing.assert_allclose(ours[0].numpy(), reference, atol=1e-4, rtol=0)


def test_whisper_log_mel_batch_equals_single_items() -> None:
    waves = [speech_like(s, 16000, seed=i) for i, s in enumerate([0.5, 1.2, 2.0])]
    lengths = torch.tensor([len(w) for w in waves])
    batch = torch.zeros(len(waves), int(lengths.max()))
    for i, w in enumerate(waves):
        batch[i, : len(w)] = torch.from_numpy(w)
    mels, frames = whisper_log_mel(batch, lengths, WhisperMelConfig(n_mels=128))
    assert frames.tolist() == [len(w) // 160 for w in waves]
    for i, w in enumerate(waves):
        single, _ = whisper_log_mel(torch.from_numpy(w), config=WhisperMelConfig(n_mels=128))
        n = int(frames[i])
        torch.testing.assert_close(mels[i, :, :n], single[0], atol=1e-5, rtol=0)
        # frames past the item's end hold its floor value, not leftovers of the padding
        assert torch.all(mels[i, :, n:] == single[0].min())


def test_whisper_log_mel_rejects_too_short_input() -> None:
    with pytest.raises(ValueError, match="more than 200 samples"):
        whisper_log_mel(torch.zeros(100))


def test_vocoder_log_mel_matches_librosa() -> None:
    import librosa

    config = VocoderMelConfig()
    wave = speech_like(1.3, config.sample_rate, seed=5)
    ours, frames = vocoder_log_mel(torch.from_numpy(wave), config=config)
    reference = librosa.feature.melspectrogram(
        y=wave,
        sr=config.sample_rate,
        n_fft=config.n_fft,
        hop_length=config.hop_length,
        win_length=config.win_length,
        n_mels=config.n_mels,
        fmin=config.fmin,
        fmax=config.fmax,
        power=1.0,
        center=True,
        pad_mode="reflect",
    )
    reference = np.log(np.maximum(reference, config.log_floor))
    assert ours.shape[1:] == reference.shape
    assert int(frames[0]) == reference.shape[1] == 1 + len(wave) // config.hop_length
    np.testing.assert_allclose(ours[0].numpy(), reference, atol=2e-4, rtol=0)


@pytest.mark.parametrize("chunk_frames", [7, 100, 3000])
def test_chunked_whisper_log_mel_equals_one_pass(chunk_frames: int) -> None:
    from audiotok.features.mel import whisper_log_mel_chunked

    wave = torch.from_numpy(speech_like(2.345, 16000, seed=11))
    config = WhisperMelConfig(n_mels=128)
    whole, _ = whisper_log_mel(wave, config=config)
    chunked = whisper_log_mel_chunked(wave, config, chunk_frames=chunk_frames)
    assert chunked.shape == whole.shape[1:]
    torch.testing.assert_close(chunked, whole[0], atol=1e-6, rtol=0)
