"""The voice condition of a CosyVoice 2 request: what the LM and the flow get from a prompt.

From a voice prompt (zero-shot cloning): the transcript's text tokens and the prompt's S3 v2
speech tokens (the LM continues from them), the prompt's 24 kHz mel (the flow's condition over
the prompt frames) and the CAM++ speaker vector (the flow's timbre). The CosyVoice 2 trim makes
the mel exactly two frames per token: ``n = min(mel_frames // 2, tokens)``.

Without a transcript (``voice.text`` empty) the LM gets neither the prompt's text nor its speech
tokens (CosyVoice's cross-lingual mode: continuing speech whose words it does not know makes it
babble); the flow still gets the prompt's tokens, mel and speaker vector, which carry the timbre.

From a built-in speaker (``spk2info``): the speaker vector alone, or, for speakers saved from a
prompt, everything a prompt gives.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch

from audiotok.tokenizers.base import AudioTokenizer
from models.tts.cosyvoice2.prompt import PromptFrontEnd, to_prompt_rate
from models.tts.cosyvoice2.text import TextFrontend
from models.tts.generator import SynthesisError, Voice

PROMPT_RATE = 16000  # the S3 tokenizer's and CAM++'s rate
MIN_VOICE_SECONDS = 0.5
SILENCE_PEAK = 1e-4


@dataclass(eq=False)
class VoiceCondition:
    """What one voice contributes to each request.

    Attributes:
        speaker: the speaker vector ``[D]``.
        prompt_text: text token ids of the prompt's transcript ``[Tp]``.
        prompt_speech: the prompt's speech tokens after the trim ``[P]``.
        prompt_mel: the prompt's mel after the trim ``[2P, M]``.
    """

    speaker: torch.Tensor
    prompt_text: torch.Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.long))
    prompt_speech: torch.Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.long))
    prompt_mel: torch.Tensor = field(default_factory=lambda: torch.zeros(0, 80))


class PromptParts(Protocol):
    """What turns a prompt into a condition (the model's front ends)."""

    def speech_tokens(self, wave_16k: np.ndarray) -> list[int]: ...

    def speaker_vector(self, wave_16k: np.ndarray) -> np.ndarray: ...

    def prompt_mel(self, wave_16k: np.ndarray) -> np.ndarray: ...

    def text_tokens(self, text: str) -> list[int]: ...


class PromptEncoder:
    """`PromptParts` of a loaded model: S3 v2 tokens from its speech tokenizer, speaker vector
    and prompt mel from its `PromptFrontEnd`, transcript ids from its `TextFrontend`."""

    def __init__(
        self, front: PromptFrontEnd, speech_tokenizer: AudioTokenizer, text: TextFrontend
    ) -> None:
        self.front = front
        self.speech_tokenizer = speech_tokenizer
        self.text = text

    def speech_tokens(self, wave_16k: np.ndarray) -> list[int]:
        tokens = self.speech_tokenizer.encode_one(torch.from_numpy(wave_16k), PROMPT_RATE)
        return [int(t) for t in tokens.codes.reshape(-1)]

    def speaker_vector(self, wave_16k: np.ndarray) -> np.ndarray:
        return self.front.speaker_vector(wave_16k)

    def prompt_mel(self, wave_16k: np.ndarray) -> np.ndarray:
        return self.front.prompt_mel(wave_16k)

    def text_tokens(self, text: str) -> list[int]:
        return self.text.encode(self.text.normalize(text))


def voice_condition(voice: Voice, parts: PromptParts, token_mel_ratio: int = 2) -> VoiceCondition:
    """The condition of a voice prompt.

    Raises:
        SynthesisError: the prompt is silent (``voice_silent``) or too short
            (``voice_too_short``).
    """
    wave = np.asarray(voice.wave, dtype=np.float32).reshape(-1)
    if wave.size < MIN_VOICE_SECONDS * voice.sample_rate:
        raise SynthesisError(
            "voice_too_short",
            f"{voice.name}: {wave.size / voice.sample_rate:.2f} s; give at least "
            f"{MIN_VOICE_SECONDS} s of speech (3-10 s clone best)",
        )
    if not np.isfinite(wave).all() or float(np.abs(wave).max()) < SILENCE_PEAK:
        raise SynthesisError("voice_silent", f"{voice.name}: the prompt is silent")
    wave_16k = wave if voice.sample_rate == PROMPT_RATE else to_prompt_rate(wave, voice.sample_rate)
    tokens = parts.speech_tokens(wave_16k)
    mel = parts.prompt_mel(wave_16k)  # [frames, M]
    count = min(mel.shape[0] // token_mel_ratio, len(tokens))
    prompt_text = parts.text_tokens(voice.text) if voice.text.strip() else []
    return VoiceCondition(
        speaker=torch.from_numpy(np.asarray(parts.speaker_vector(wave_16k), np.float32)),
        prompt_text=torch.tensor(prompt_text, dtype=torch.long),
        prompt_speech=torch.tensor(tokens[:count], dtype=torch.long),
        prompt_mel=torch.from_numpy(
            np.ascontiguousarray(mel[: token_mel_ratio * count], np.float32)
        ),
    )


def speaker_condition(entry: dict[str, torch.Tensor], mel_bins: int) -> VoiceCondition:
    """A built-in speaker from an ``spk2info`` entry: ``embedding`` (or ``flow_embedding``)
    and, for speakers saved from a prompt, ``prompt_text``, ``speech_token`` /
    ``flow_prompt_speech_token`` and ``speech_feat`` / ``prompt_speech_feat``."""
    speaker = entry.get("flow_embedding", entry.get("embedding"))
    if speaker is None:
        raise SynthesisError("unknown_speaker", "the spk2info entry has no embedding")
    condition = VoiceCondition(speaker=speaker.reshape(-1).float())
    tokens = entry.get("flow_prompt_speech_token", entry.get("speech_token"))
    feat = entry.get("prompt_speech_feat", entry.get("speech_feat"))
    if tokens is not None and feat is not None:
        condition.prompt_speech = tokens.reshape(-1).long()
        condition.prompt_mel = feat.reshape(-1, mel_bins).float()
        text = entry.get("prompt_text")
        if text is not None:
            condition.prompt_text = text.reshape(-1).long()
    return condition
