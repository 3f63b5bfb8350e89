"""Spectral front ends: Whisper-style log-mel and vocoder mel."""

from audiotok.features.mel import (
    VocoderMelConfig,
    WhisperMelConfig,
    mel_filterbank,
    vocoder_log_mel,
    whisper_log_mel,
)

__all__ = [
    "VocoderMelConfig",
    "WhisperMelConfig",
    "mel_filterbank",
    "vocoder_log_mel",
    "whisper_log_mel",
]
