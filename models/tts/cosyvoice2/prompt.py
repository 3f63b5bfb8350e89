"""The voice-prompt front end of CosyVoice 2: prompt mel, speaker vector and the trim.

A prompt is taken at 16 kHz (the S3 tokenizer's and CAM++'s rate; `to_prompt_rate`). From it:

- the prompt mel the flow continues from: the prompt resampled to 24 kHz with the
  windowed-sinc resampler the official front end uses (`sinc_resample`), then an 80-bin
  natural-log magnitude mel with 1920-sample Hann windows every 480 samples (50 frames/s),
  the signal mirrored by ``(n_fft - hop) / 2`` samples at each end and no centring, so a
  prompt of ``n`` samples gives ``n // hop`` frames (`prompt_log_mel`);
- the CAM++ speaker vector (`CAMPPlus`);
- the trim: the flow needs exactly ``token_mel_ratio`` mel frames per speech token, so both
  are cut to ``L = min(mel_frames // ratio, tokens)`` tokens (`trim_prompt`).

The S3 speech tokens of the prompt come from the S3 v2 tokenizer, outside this module.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from audiotok.audio.resample import sinc_resample
from audiotok.features.mel import mel_filterbank
from models.tts.cosyvoice2.campplus import (
    CAMPPlus,
    CAMPPlusConfig,
    SpeakerEmbedder,
    _reject_unknown,
)
from models.tts.generator import SynthesisError

MelT = TypeVar("MelT", np.ndarray, torch.Tensor)
TokensT = TypeVar("TokensT", np.ndarray, torch.Tensor, list[int])


@dataclass(frozen=True)
class PromptMelConfig:
    """The prompt mel (Matcha-TTS's ``mel_spectrogram`` as CosyVoice 2 configures it).

    Attributes:
        sample_rate: Hz.
        n_fft, hop_length, win_length: the STFT (a periodic Hann window of ``win_length``).
        n_mels, fmin, fmax: Slaney-scale, Slaney-normalised filters (librosa's defaults).
        magnitude_epsilon: added to ``re^2 + im^2`` before the square root.
        log_floor: mel magnitudes are clamped to at least this before the natural log.
    """

    sample_rate: int = 24000
    n_fft: int = 1920
    hop_length: int = 480
    win_length: int = 1920
    n_mels: int = 80
    fmin: float = 0.0
    fmax: float = 8000.0
    magnitude_epsilon: float = 1e-9
    log_floor: float = 1e-5

    @property
    def pad(self) -> int:
        """Samples mirrored at each end: the frames then tile the signal hop by hop."""
        return (self.n_fft - self.hop_length) // 2

    @property
    def frame_rate(self) -> float:
        return self.sample_rate / self.hop_length

    def num_frames(self, num_samples: int) -> int:
        return (num_samples + 2 * self.pad - self.n_fft) // self.hop_length + 1


@dataclass(frozen=True)
class PromptConfig:
    """Every setting of the prompt front end (defaults: the official CosyVoice2-0.5B).

    Attributes:
        prompt_rate: the rate prompts are brought to (S3 tokens and CAM++ read it).
        mel: the prompt mel; its ``sample_rate`` is the flow's and the vocoder's rate.
        speaker: the CAM++ speaker embedder.
        token_mel_ratio: mel frames per speech token (the flow's).
        lowpass_filter_width, rolloff: the resampler's (torchaudio's defaults).
    """

    prompt_rate: int = 16000
    mel: PromptMelConfig = field(default_factory=PromptMelConfig)
    speaker: CAMPPlusConfig = field(default_factory=CAMPPlusConfig)
    token_mel_ratio: int = 2
    lowpass_filter_width: int = 6
    rolloff: float = 0.99

    def __post_init__(self) -> None:
        if self.speaker.sample_rate != self.prompt_rate:
            raise ValueError(
                f"CAM++ reads {self.speaker.sample_rate} Hz but prompts are {self.prompt_rate} Hz"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PromptConfig:
        _reject_unknown(cls, data, "prompt config")
        values = dict(data)
        if isinstance(values.get("mel"), dict):
            _reject_unknown(PromptMelConfig, values["mel"], "prompt mel config")
            values["mel"] = PromptMelConfig(**values["mel"])
        if isinstance(values.get("speaker"), dict):
            values["speaker"] = CAMPPlusConfig.from_dict(values["speaker"])
        return cls(**values)


def cosyvoice2_0_5b() -> PromptConfig:
    """The official CosyVoice2-0.5B front end."""
    return PromptConfig()


def debug() -> PromptConfig:
    """The same front end (it has no weights to shrink), for the debug-size models."""
    return PromptConfig()


PRESETS: dict[str, Callable[[], PromptConfig]] = {
    "cosyvoice2-0.5b": cosyvoice2_0_5b,
    "debug": debug,
}


def preset(name: str) -> PromptConfig:
    if name not in PRESETS:
        raise ValueError(f"unknown prompt preset {name!r}; known: {', '.join(sorted(PRESETS))}")
    return PRESETS[name]()


def prompt_log_mel(
    waves: torch.Tensor, lengths: torch.Tensor | None = None, config: PromptMelConfig | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The prompt mel of a batch; each item equals its mel alone.

    Args:
        waves: ``[B, N]`` (or ``[N]``) float audio at ``config.sample_rate``, right-padded.
        lengths: valid samples per item ``[B]``; None means all ``N``.

    Returns:
        ``(mels [B, n_mels, T], frames [B])``: item ``i`` has ``num_frames(lengths[i])``
        (``lengths[i] // hop``) valid frames; later frames hold ``log(log_floor)``.

    Raises:
        SynthesisError: ``voice_too_short``: an item has no more than ``pad`` samples.
    """
    config = config or PromptMelConfig()
    if waves.ndim == 1:
        waves = waves[None]
    waves = waves.to(torch.float32)
    counts = _lengths(waves, lengths)
    padded = _mirror_pad(waves, counts, config.pad)  # [B, N + 2 * pad]
    window = torch.hann_window(config.win_length, dtype=padded.dtype, device=padded.device)
    spec = torch.stft(
        padded,
        config.n_fft,
        config.hop_length,
        config.win_length,
        window=window,
        center=False,
        return_complex=True,
    )  # [B, n_fft / 2 + 1, T]
    magnitude = torch.sqrt(spec.real**2 + spec.imag**2 + config.magnitude_epsilon)
    filters = mel_filterbank(
        config.sample_rate, config.n_fft, config.n_mels, config.fmin, config.fmax
    ).to(magnitude.device)
    mel = torch.clamp(filters @ magnitude, min=config.log_floor).log()  # [B, n_mels, T]
    frames = torch.tensor([config.num_frames(n) for n in counts], device=mel.device)
    valid = torch.arange(mel.shape[-1], device=mel.device)[None, :] < frames[:, None]  # [B, T]
    floor = float(np.log(config.log_floor))
    return mel.masked_fill(~valid[:, None, :], floor), frames


def trim_prompt(mel: MelT, tokens: TokensT, token_mel_ratio: int = 2) -> tuple[MelT, TokensT]:
    """The CosyVoice 2 trim: ``mel [T, M]`` and ``tokens [P]`` cut to ``L`` tokens and
    ``token_mel_ratio * L`` frames, ``L = min(T // token_mel_ratio, P)``."""
    count = min(int(mel.shape[0]) // token_mel_ratio, len(tokens))
    return mel[: token_mel_ratio * count], tokens[:count]


def to_prompt_rate(
    wave: np.ndarray, sample_rate: int, config: PromptConfig | None = None
) -> np.ndarray:
    """A prompt as the front end reads it: mono (channels ``[C, N]`` averaged) float32 at
    ``prompt_rate``, resampled with the windowed-sinc resampler (as the official loader)."""
    config = config or PromptConfig()
    samples = np.asarray(wave, dtype=np.float32)
    if samples.ndim == 2:
        samples = samples.mean(axis=0)
    if samples.ndim != 1:
        raise ValueError(f"a prompt is [N] or [channels, N], got shape {samples.shape}")
    return _resample(samples, sample_rate, config.prompt_rate, config)


@dataclass(eq=False)
class PreparedPrompt:
    """What a voice prompt gives the flow and the LM, after the trim.

    Attributes:
        mel: the prompt mel ``[token_mel_ratio * L, M]`` float32.
        speech_tokens: its S3 tokens ``[L]`` int64.
        speaker: the CAM++ vector ``[D]`` float32.
    """

    mel: np.ndarray
    speech_tokens: np.ndarray
    speaker: np.ndarray


class PromptFrontEnd:
    """Prompt mel and speaker vector of 16 kHz prompts (``speaker_vector`` and ``prompt_mel``
    of the model's prompt parts).

    Args:
        campplus: the speaker embedder; None builds one from ``campplus_path``.
        config: the front end's settings.
        campplus_path: ``campplus.onnx``, when ``campplus`` is None.
    """

    def __init__(
        self,
        campplus: SpeakerEmbedder | None = None,
        config: PromptConfig | None = None,
        campplus_path: str | Path | None = None,
    ) -> None:
        self.config = config or PromptConfig()
        if campplus is None and campplus_path is not None:
            campplus = CAMPPlus(campplus_path, self.config.speaker)
        self.campplus: SpeakerEmbedder | None = campplus

    def speaker_vector(self, wave_16k: np.ndarray) -> np.ndarray:
        """The CAM++ vector ``[D]`` of a prompt at ``prompt_rate``."""
        if self.campplus is None:
            raise ValueError("this prompt front end has no CAM++ model (campplus.onnx)")
        return self.campplus.embed(wave_16k)

    def prompt_mel(self, wave_16k: np.ndarray) -> np.ndarray:
        """The untrimmed prompt mel ``[frames, n_mels]`` float32 of a prompt at ``prompt_rate``."""
        return self.prompt_mels([wave_16k])[0]

    def prompt_mels(self, waves_16k: Sequence[np.ndarray]) -> list[np.ndarray]:
        """`prompt_mel` of several prompts in one batch."""
        mel_config = self.config.mel
        waves = [
            _resample(
                np.asarray(w, np.float32).reshape(-1),
                self.config.prompt_rate,
                mel_config.sample_rate,
                self.config,
            )
            for w in waves_16k
        ]
        counts = [w.size for w in waves]
        batch = torch.zeros(len(waves), max(counts, default=0))
        for row, wave in enumerate(waves):
            batch[row, : wave.size] = torch.from_numpy(wave)
        mels, frames = prompt_log_mel(batch, torch.tensor(counts), mel_config)
        return [mels[i, :, : int(frames[i])].T.contiguous().numpy() for i in range(len(waves))]

    def prepare(
        self, wave_16k: np.ndarray, speech_tokens: Sequence[int] | np.ndarray
    ) -> PreparedPrompt:
        """Mel, tokens (``speech_tokens``: the prompt's S3 tokens) and speaker vector of one
        prompt at ``prompt_rate``, trimmed to ``token_mel_ratio`` frames per token."""
        mel, tokens = trim_prompt(
            self.prompt_mel(wave_16k),
            np.asarray(speech_tokens, dtype=np.int64).reshape(-1),
            self.config.token_mel_ratio,
        )
        return PreparedPrompt(mel=mel, speech_tokens=tokens, speaker=self.speaker_vector(wave_16k))


def _resample(wave: np.ndarray, orig: int, target: int, config: PromptConfig) -> np.ndarray:
    return sinc_resample(wave, orig, target, config.lowpass_filter_width, config.rolloff)


def _lengths(waves: torch.Tensor, lengths: torch.Tensor | None) -> list[int]:
    if lengths is None:
        return [int(waves.shape[1])] * int(waves.shape[0])
    counts = [int(n) for n in lengths.reshape(-1).tolist()]
    if len(counts) != waves.shape[0] or max(counts, default=0) > waves.shape[1]:
        raise ValueError(f"lengths {counts} do not fit waves of shape {tuple(waves.shape)}")
    return counts


def _mirror_pad(waves: torch.Tensor, counts: list[int], pad: int) -> torch.Tensor:
    """Each item mirrored by ``pad`` samples around its own valid samples (edge sample not
    repeated): ``[B, N] -> [B, N + 2 * pad]``, zeros after each item."""
    out = waves.new_zeros(waves.shape[0], waves.shape[1] + 2 * pad)
    for row, count in enumerate(counts):
        if count <= pad:
            raise SynthesisError(
                "voice_too_short",
                f"{count} samples; the prompt mel needs more than {pad}",
            )
        item = waves[row, :count][None, None]  # [1, 1, n]: reflect padding wants a channel axis
        out[row, : count + 2 * pad] = torch.nn.functional.pad(item, (pad, pad), mode="reflect")[
            0, 0
        ]
    return out
