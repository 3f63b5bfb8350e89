"""`CAMPPlus`: the speaker vector of a 16 kHz voice prompt (CosyVoice 2's ``campplus.onnx``).

CAM++ (3D-Speaker) reads 80-bin Kaldi filterbanks of audio in [-1, 1] (not 16-bit scale),
without dither, each bin's mean over the prompt subtracted, and returns one 192-dim vector
(not normalised: the flow normalises it). The model ships as ONNX with input
``[1, frames, 80]``; it runs here with onnxruntime on the CPU.

`SpeakerEmbedder` is the base of both embedders: the checks and the features are shared;
`RandomSpeakerEmbedder` (the random-weight debug models only) pools the same features through a
seeded random projection, so tests run without ``campplus.onnx``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from audiotok._components import onnx_session
from audiotok.features.kaldi_fbank import KaldiFbankConfig, kaldi_fbank
from models.tts.generator import SynthesisError

WHAT = "CAM++ speaker embedder"


def _campplus_fbank() -> KaldiFbankConfig:
    return KaldiFbankConfig(sample_rate=16000, num_mel_bins=80)


@dataclass(frozen=True)
class CAMPPlusConfig:
    """The speaker embedder's settings.

    Attributes:
        fbank: its Kaldi filterbank (torchaudio's defaults with 80 bins at 16 kHz).
        embedding_dim: length ``D`` of the vector the model returns.
        min_frames: fewest filterbank frames accepted (CAM++ pools the mean and deviation
            over time; from under about 0.4 s the vector says little about the voice).
        silence_dbfs: a prompt whose RMS level is below this is refused as silent (its
            normalised filterbank is flat and the vector is the model's bias).
        num_threads: onnxruntime intra-op threads.
    """

    fbank: KaldiFbankConfig = field(default_factory=_campplus_fbank)
    embedding_dim: int = 192
    min_frames: int = 40
    silence_dbfs: float = -60.0
    num_threads: int = 1

    @property
    def sample_rate(self) -> int:
        return self.fbank.sample_rate

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CAMPPlusConfig:
        _reject_unknown(cls, data, "CAM++ config")
        values = dict(data)
        if isinstance(values.get("fbank"), dict):
            _reject_unknown(KaldiFbankConfig, values["fbank"], "CAM++ fbank config")
            values["fbank"] = KaldiFbankConfig(**values["fbank"])
        return cls(**values)


class SpeakerEmbedder(ABC):
    """Speaker vectors ``[D]`` of 16 kHz prompts; subclasses say how (`embed`)."""

    def __init__(self, config: CAMPPlusConfig | None = None) -> None:
        self.config = config or CAMPPlusConfig()

    def features(self, wave_16k: np.ndarray) -> np.ndarray:
        """What the model reads: the filterbank minus its mean over time ``[frames, 80]``.

        Raises:
            SynthesisError: ``voice_too_short`` (under ``min_frames`` frames) or
                ``voice_silent`` (non-finite, or quieter than ``silence_dbfs``).
        """
        fbank = kaldi_fbank(self._check(wave_16k), self.config.fbank)
        return fbank - fbank.mean(axis=0, keepdims=True)

    @abstractmethod
    def embed(self, wave_16k: np.ndarray) -> np.ndarray:
        """The speaker vector of one prompt: float32 ``[D]``.

        Args:
            wave_16k: mono float samples in [-1, 1] at 16 kHz ``[N]``.

        Raises:
            SynthesisError: as `features`.
        """

    def _check(self, wave_16k: np.ndarray) -> np.ndarray:
        wave = np.asarray(wave_16k, dtype=np.float32)
        if wave.ndim != 1:
            raise ValueError(f"CAM++ takes one mono waveform [N], got shape {wave.shape}")
        if not np.isfinite(wave).all():
            raise SynthesisError("voice_silent", "the prompt holds NaN or infinite samples")
        frames = self.config.fbank.num_frames(wave.size)
        if frames < self.config.min_frames:
            raise SynthesisError(
                "voice_too_short",
                f"{wave.size / self.config.sample_rate:.2f} s gives {frames} filterbank frames; "
                f"the speaker vector needs at least {self.config.min_frames}",
            )
        rms = float(np.sqrt(np.mean(np.square(wave, dtype=np.float64))))
        if rms <= 10 ** (self.config.silence_dbfs / 20):
            level = 20 * np.log10(rms) if rms > 0 else float("-inf")
            raise SynthesisError(
                "voice_silent",
                f"the prompt's level is {level:.1f} dBFS, under {self.config.silence_dbfs} dBFS",
            )
        return wave


class CAMPPlus(SpeakerEmbedder):
    """Speaker vectors from ``campplus.onnx``.

    Args:
        path: the ONNX file.
        config: settings (the official model's by default).
    """

    def __init__(self, path: str | Path, config: CAMPPlusConfig | None = None) -> None:
        super().__init__(config)
        self.path = Path(path)
        self._session = onnx_session(self.path, what=WHAT, num_threads=self.config.num_threads)
        self._input = self._session.get_inputs()[0].name

    def embed(self, wave_16k: np.ndarray) -> np.ndarray:
        """See `SpeakerEmbedder.embed`.

        Raises:
            ValueError: the model returns other than ``embedding_dim`` values.
        """
        features = self.features(wave_16k)[None].astype(np.float32)  # [1, frames, 80]
        output = np.asarray(self._session.run(None, {self._input: features})[0], np.float32)
        vector = output.reshape(-1)
        if vector.size != self.config.embedding_dim:
            raise ValueError(
                f"{self.path}: gives {vector.size} values per prompt, expected "
                f"{self.config.embedding_dim} (is it CosyVoice 2's campplus.onnx?)"
            )
        return vector


class RandomSpeakerEmbedder(SpeakerEmbedder):
    """A stand-in for CAM++ in random-weight debug models: the mean and deviation over time
    of the same features, through a seeded random projection to ``embedding_dim``. Its vectors
    differ between voices but mean nothing."""

    def __init__(self, config: CAMPPlusConfig | None = None, seed: int = 0) -> None:
        super().__init__(config)
        bins = self.config.fbank.num_mel_bins
        generator = np.random.default_rng(seed)
        self.projection = generator.standard_normal((2 * bins, self.config.embedding_dim))
        self.projection = (self.projection / np.sqrt(2 * bins)).astype(np.float32)

    def embed(self, wave_16k: np.ndarray) -> np.ndarray:
        features = self.features(wave_16k)
        pooled = np.concatenate([features.mean(axis=0), features.std(axis=0)])
        return (pooled.astype(np.float32) @ self.projection).astype(np.float32)


def _reject_unknown(cls: type, data: dict[str, Any], what: str) -> None:
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"{what}: unknown key(s) {', '.join(unknown)}")
