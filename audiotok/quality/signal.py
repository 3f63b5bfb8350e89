"""Signal-level quality measures: clipping, speech ratio, SNR from VAD segments."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from audiotok._waves import mono_float32
from audiotok.vad.base import SpeechSegment

NOISE_PERCENTILE = 10.0  # noise floor of the fallback: this percentile of speech-frame power
MIN_NOISE_FRAMES = 5  # fewer non-speech frames than this (100 ms) triggers the fallback
POWER_FLOOR = 1e-12  # keeps digital silence finite: the SNR of a noiseless file is ~ +100 dB


def clipping_ratio(wave: np.ndarray, threshold: float = 0.999) -> float:
    """Fraction of samples whose magnitude is at least ``threshold`` (full scale is 1.0).

    Args:
        wave: float mono audio ``[N]`` in [-1, 1].
        threshold: a magnitude at or above this counts as clipped; lower it (e.g. 0.99)
            for audio that was clipped and then scaled down slightly.

    Returns:
        0.0 for empty input.
    """
    audio = mono_float32(wave, "clipping_ratio")
    if audio.size == 0:
        return 0.0
    return float(np.count_nonzero(np.abs(audio) >= threshold) / audio.size)


def speech_ratio(segments: Sequence[SpeechSegment], duration: float) -> float:
    """Fraction of ``duration`` seconds covered by speech segments (overlaps counted once).

    Segments are clipped to ``[0, duration]``; returns 0.0 when ``duration <= 0``.
    """
    if duration <= 0:
        return 0.0
    covered, reach = 0.0, 0.0
    for seg in sorted(segments, key=lambda s: s.start):
        start, end = max(seg.start, reach, 0.0), min(seg.end, duration)
        if end > start:
            covered += end - start
        reach = max(reach, end)
    return covered / duration


def estimate_snr_db(
    wave: np.ndarray,
    sample_rate: int,
    segments: Sequence[SpeechSegment],
    frame_s: float = 0.02,
) -> float:
    """Signal-to-noise ratio in dB, from speech and non-speech frame energies.

    The waveform is cut into ``frame_s`` frames; a frame is speech when its centre lies in a
    segment.  Noise power ``P_n`` is the mean power of the non-speech frames; signal power
    is the mean power of the speech frames minus ``P_n`` (noise is assumed additive), so
    ``SNR = 10 log10((P_speech - P_n) / P_n)``, floored at -20 dB.

    Fallback: when fewer than 5 frames (100 ms at the default) are non-speech, e.g. a clip
    cut tightly around speech, ``P_n`` is the 10th percentile of the speech frames' power,
    i.e. the floor between words and syllables.  This underestimates noise-free SNR
    and is less reliable than having real pauses.

    Args:
        wave: float mono audio ``[N]``.
        sample_rate: its rate in Hz.
        segments: speech segments in seconds (from a `VoiceActivityDetector`).
        frame_s: frame length in seconds.

    Returns:
        SNR in dB, or NaN when no frame is speech (SNR is undefined without speech).
    """
    audio = mono_float32(wave, "estimate_snr_db").astype(np.float64)
    frame = max(1, round(frame_s * sample_rate))
    count = audio.size // frame
    if count == 0:
        return float("nan")
    power = np.mean(np.square(audio[: count * frame].reshape(count, frame)), axis=1)
    centres = (np.arange(count) + 0.5) * frame / sample_rate
    is_speech = np.zeros(count, dtype=bool)
    for seg in segments:
        is_speech |= (centres >= seg.start) & (centres < seg.end)
    if not is_speech.any():
        return float("nan")
    speech_power = float(power[is_speech].mean())
    if np.count_nonzero(~is_speech) >= MIN_NOISE_FRAMES:
        noise_power = float(power[~is_speech].mean())
    else:
        noise_power = float(np.percentile(power[is_speech], NOISE_PERCENTILE))
    noise_power = max(noise_power, POWER_FLOOR)
    signal_power = max(speech_power - noise_power, noise_power * 0.01)
    return float(10.0 * np.log10(signal_power / noise_power))
