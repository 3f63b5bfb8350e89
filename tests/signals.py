"""Deterministic test signals."""

from __future__ import annotations

import numpy as np


def speech_like(seconds: float = 1.0, sample_rate: int = 16000, seed: int = 0) -> np.ndarray:
    """A deterministic voiced-speech-like signal: a gliding harmonic tone with an envelope."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    f0 = 120 + 40 * np.sin(2 * np.pi * 1.5 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    wave = sum(np.sin(k * phase) / k for k in range(1, 12))
    envelope = 0.5 * (1 - np.cos(2 * np.pi * 3 * t)) + 0.05
    noise = 0.01 * rng.standard_normal(t.size)
    out = 0.3 * wave * envelope / np.max(np.abs(wave)) + noise
    return out.astype(np.float32)
