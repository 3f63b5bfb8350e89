"""Quality measures: clipping, speech ratio, SNR, DNSMOS."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiotok.quality import DNSMOSScores, clipping_ratio, dnsmos, estimate_snr_db, speech_ratio
from audiotok.vad import SpeechSegment


def test_clipping_ratio(speech_16k: np.ndarray) -> None:
    assert clipping_ratio(speech_16k) == 0.0
    clipped = np.clip(speech_16k * 10, -1, 1)
    ratio = clipping_ratio(clipped)
    assert 0.1 < ratio < 0.9
    assert ratio == pytest.approx(np.mean(np.abs(speech_16k * 10) >= 0.999))
    assert clipping_ratio(np.zeros(0, dtype=np.float32)) == 0.0
    with pytest.raises(ValueError, match="mono"):
        clipping_ratio(np.zeros((2, 100), dtype=np.float32))


def test_speech_ratio() -> None:
    segs = [SpeechSegment(0.0, 1.0), SpeechSegment(0.5, 2.0), SpeechSegment(3.0, 5.0)]
    assert speech_ratio(segs, 4.0) == pytest.approx(3.0 / 4.0)  # overlap once, clipped at 4
    assert speech_ratio([], 3.0) == 0.0
    assert speech_ratio(segs, 0.0) == 0.0


def _speech_with_pauses(noise: float, seed: int = 0) -> tuple[np.ndarray, list[SpeechSegment]]:
    """1 s silence, 1 s speech-like signal, 1 s silence, plus white noise of std ``noise``."""
    from tests.signals import speech_like

    rng = np.random.default_rng(seed)
    speech = speech_like(1.0, 16000)
    wave = np.concatenate([np.zeros(16000), speech, np.zeros(16000)]).astype(np.float32)
    wave += (noise * rng.standard_normal(wave.size)).astype(np.float32)
    return wave, [SpeechSegment(1.0, 2.0)]


def test_snr_matches_construction() -> None:
    for noise in (0.003, 0.03):
        wave, segs = _speech_with_pauses(noise)
        clean, _ = _speech_with_pauses(0.0)
        true_snr = 10 * np.log10(np.mean(clean[16000:32000] ** 2) / noise**2)
        assert estimate_snr_db(wave, 16000, segs) == pytest.approx(true_snr, abs=1.0)
    assert estimate_snr_db(wave, 16000, []) != estimate_snr_db(wave, 16000, [])  # NaN


def test_snr_fallback_without_pauses() -> None:
    quiet, _ = _speech_with_pauses(0.003)
    loud, _ = _speech_with_pauses(0.05)
    whole = [SpeechSegment(0.0, 3.0)]  # everything is "speech": percentile noise floor
    # only the middle second: the fallback sees speech with its own quiet parts
    middle_quiet = estimate_snr_db(quiet[16000:32000], 16000, whole)
    middle_loud = estimate_snr_db(loud[16000:32000], 16000, whole)
    assert np.isfinite(middle_quiet) and np.isfinite(middle_loud)
    assert middle_quiet > middle_loud + 5


@pytest.fixture(scope="module")
def english(shared_data: Path) -> np.ndarray:
    wave, sr = sf.read(shared_data / "real/multilingual/test.wav", dtype="float32")
    assert sr == 16000
    return wave


def test_dnsmos_clean_beats_noisy(english: np.ndarray) -> None:
    pytest.importorskip("onnxruntime")
    rng = np.random.default_rng(0)
    noisy = np.clip(english + 0.1 * rng.standard_normal(english.size), -1, 1).astype(np.float32)
    clean_scores, noisy_scores = dnsmos(english, 16000), dnsmos(noisy, 16000)
    print(f"DNSMOS clean {clean_scores} noisy {noisy_scores}")
    assert isinstance(clean_scores, DNSMOSScores)
    for scores in (clean_scores, noisy_scores):
        assert all(1.0 <= v <= 5.0 for v in (scores.sig, scores.bak, scores.ovrl, scores.p808))
    assert clean_scores.ovrl > noisy_scores.ovrl + 1.0
    assert clean_scores.bak > noisy_scores.bak + 1.0
    assert clean_scores.sig > noisy_scores.sig
    # any input rate: resampled to 16 kHz
    from audiotok.audio import resample

    at_8k = dnsmos(resample(english, 16000, 8000), 8000)
    assert abs(at_8k.ovrl - clean_scores.ovrl) < 0.6
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        dnsmos(english * 10, 16000)


def test_snr_on_real_speech(english: np.ndarray) -> None:
    from audiotok.vad import get_vad

    rng = np.random.default_rng(1)
    vad = get_vad("silero")
    snrs = []
    for noise in (0.003, 0.03):
        wave = english + (noise * rng.standard_normal(english.size)).astype(np.float32)
        snrs.append(estimate_snr_db(wave, 16000, vad.speech_segments(wave, 16000)))
    print(f"SNR estimates with added noise std 0.003 / 0.03: {snrs}")
    assert snrs[0] > snrs[1] + 10
