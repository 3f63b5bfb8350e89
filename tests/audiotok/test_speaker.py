"""Speaker embeddings: Resemblyzer parity, speaker separation on FSDD, the registry."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from audiotok.errors import ComponentOptionError, UnknownComponentError, WeightsNotFoundError
from audiotok.speaker import ResemblyzerEncoder, get_speaker_encoder, partial_starts

FSDD_SPEAKERS = ["george", "jackson", "lucas", "nicolas", "theo", "yweweler"]


@pytest.fixture(scope="module")
def encoder() -> ResemblyzerEncoder:
    enc = get_speaker_encoder("resemblyzer")
    assert isinstance(enc, ResemblyzerEncoder)
    return enc


def test_registry_errors(tmp_path: Path) -> None:
    with pytest.raises(UnknownComponentError, match="resemblyzer"):
        get_speaker_encoder("ecapa")
    with pytest.raises(ComponentOptionError):
        get_speaker_encoder("resemblyzer", partials=3)
    with pytest.raises(WeightsNotFoundError):
        get_speaker_encoder("resemblyzer", weights=str(tmp_path / "missing.pt"))


def test_partial_starts() -> None:
    assert partial_starts(1600, 1.3, 0.75) == [0]  # shorter than one partial: one, padded
    starts = partial_starts(16000 * 5, 1.3, 0.75)  # 5 s: a partial every 77 frames
    assert starts[:2] == [0, 77] and starts[-1] * 160 + 160 * 160 >= 16000 * 5 * 0.9
    with pytest.raises(ValueError):
        partial_starts(16000, 0.3, 0.75)


def test_shapes_and_norm(encoder: ResemblyzerEncoder, speech_16k: np.ndarray) -> None:
    out = encoder.embed([speech_16k, speech_16k[:4000], np.tile(speech_16k, 4)], 16000)
    assert out.shape == (3, encoder.dim) == (3, 256) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    alone = encoder.embed([speech_16k[:4000]], 16000)[0]
    np.testing.assert_allclose(alone, out[1], atol=1e-5)  # batching does not change results
    assert encoder.embed([], 16000).shape == (0, 256)
    with pytest.raises(ValueError, match="empty"):
        encoder.embed([np.zeros(0, dtype=np.float32)], 16000)


def _reference_encoder() -> Any:
    """Resemblyzer's own VoiceEncoder, imported with a stand-in for its webrtcvad import."""
    pytest.importorskip("scipy")
    added = "webrtcvad" not in sys.modules
    if added:
        sys.modules["webrtcvad"] = types.ModuleType("webrtcvad")
    try:
        from resemblyzer import VoiceEncoder
        from resemblyzer.audio import normalize_volume
    except ImportError as exc:
        pytest.skip(f"resemblyzer not importable: {exc}")
    finally:
        if added:
            del sys.modules["webrtcvad"]
    return VoiceEncoder(device="cpu", verbose=False), normalize_volume


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_parity_with_resemblyzer(encoder: ResemblyzerEncoder, shared_data: Path) -> None:
    reference, normalize_volume = _reference_encoder()
    raw = get_speaker_encoder("resemblyzer", target_dbfs=None)
    for name in ["test.wav", "test_fr.wav"]:
        wave, sr = sf.read(shared_data / "real/multilingual" / name, dtype="float32")
        assert sr == 16000
        ref = reference.embed_utterance(wave)
        cosine = float(ref @ raw.embed([wave], sr)[0])
        ref_norm = reference.embed_utterance(normalize_volume(wave, -30, increase_only=True))
        cosine_norm = float(ref_norm @ encoder.embed([wave], sr)[0])
        print(f"{name}: cosine {cosine:.6f}, with volume normalisation {cosine_norm:.6f}")
        assert cosine > 0.999 and cosine_norm > 0.999


def test_same_speaker_more_similar(encoder: ResemblyzerEncoder, shared_data: Path) -> None:
    folder = shared_data / "real/fsdd/recordings"
    waves, labels = [], []
    for speaker in FSDD_SPEAKERS:
        for digit in range(4):
            wave, sr = sf.read(folder / f"{digit}_{speaker}_{digit}.wav", dtype="float32")
            waves.append(wave)
            labels.append(speaker)
    embeds = encoder.embed(waves, sr)  # 8 kHz input, resampled to 16 kHz
    sims = embeds @ embeds.T
    same_mask = np.equal.outer(labels, labels) & ~np.eye(len(labels), dtype=bool)
    same, diff = sims[same_mask].mean(), sims[~np.equal.outer(labels, labels)].mean()
    print(f"FSDD same-speaker {same:.3f} vs different-speaker {diff:.3f}")
    assert same > diff + 0.05
