"""`SpeechGenerator`: the one interface of text-to-speech models (text + voice prompt -> audio).

Every model family (CosyVoice 2 today; the TouchTTS models we train later) implements it, so
the ``tts`` job and the translation cascade never know which one they speak through:

- `synthesize(requests)`: many lines at once, each with its own voice, sampling settings and
  seed; returns one `Synthesis` per request, in order. A line that fails carries its error
  (`Synthesis.error`) and never stops the others.
- `stream(request)`: one line, yielding `AudioChunk`s as soon as they can be vocoded; joining
  the chunks gives the line's audio.

A model is built by its family's ``from_pretrained`` (Hub id or directory) or ``random``
(a debug-size model with random weights, only when asked for).

`TokenVocoder` is an optional capability: a generator whose LM writes a speech-token vocabulary
that other models write too (CosyVoice 2: S3 v2 tokens) can voice given tokens without its LM,
in any voice. SeamlessM4T re-voiced in the speaker's timbre and the DS2ST-LM model speak
through it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from audiotok.errors import AudiotokError


class SynthesisError(AudiotokError):
    """A line that cannot be synthesised; ``reason`` is a stable code for ``errors.jsonl``.

    Reasons: ``empty_text``, ``unencodable_text``, ``text_too_long``, ``voice_unreadable``,
    ``voice_silent``, ``voice_too_short``, ``voice_text_missing``, ``eos_before_min_length``,
    ``no_voice`` (the model has no built-in speaker and none was given), ``unknown_speaker``;
    voicing given tokens (`TokenVocoder`): ``no_tokens``, ``token_out_of_range``.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, eq=False)
class Voice:
    """A voice prompt for zero-shot cloning.

    Attributes:
        wave: mono float32 samples ``[T]`` at ``sample_rate``.
        sample_rate: Hz.
        text: the prompt's transcript (the LM continues from it; empty: speaker timbre only).
        name: where it came from (a path), for error messages.
    """

    wave: np.ndarray
    sample_rate: int
    text: str = ""
    name: str = "voice"


@dataclass(frozen=True)
class SynthesisRequest:
    """One line to speak.

    Attributes:
        id: the caller's name for the line (file names, manifests).
        text: what to say.
        voice: a prompt to clone, or None for the model's built-in ``speaker``.
        speaker: a built-in speaker's name (models with ``spk2info``); None: the first.
        greedy: arg-max decoding (deterministic), else the model's sampling.
        seed: seeds this line's own random generators (None: random).
    """

    id: str
    text: str
    voice: Voice | None = None
    speaker: str | None = None
    greedy: bool = False
    seed: int | None = None


@dataclass(frozen=True, eq=False)
class TokenRequest:
    """Speech tokens to voice (`TokenVocoder.speak_tokens`).

    Attributes:
        id: the caller's name for the line.
        tokens: the vocoder's speech tokens ``[T]`` (what its `speech_tokens` gives).
        voice: the timbre to speak in, or None for the model's built-in ``speaker``.
        speaker: a built-in speaker's name; None: the first.
        seed: seeds the vocoder's random generators (None: random).
    """

    id: str
    tokens: Sequence[int]
    voice: Voice | None = None
    speaker: str | None = None
    seed: int | None = None


@dataclass(eq=False)
class Synthesis:
    """What one request produced (``audio`` empty and ``error`` set when it failed).

    Attributes:
        audio: float32 ``[samples]`` at ``sample_rate``.
        text_tokens: the text's ids as the LM saw them (without the prompt text); for a text
            split into pieces, the pieces' ids joined.
        prompt_text_tokens, prompt_speech_tokens: the voice prompt as the LM saw it (speech
            tokens after the trim that makes the prompt mel exactly two frames per token).
        speaker_embedding: the speaker vector the flow was conditioned on ``[D]``.
        speech_tokens: the generated speech tokens.
        mel: the flow's output before the vocoder ``[n_mels, frames]`` (new frames only).
        prompt_mel: the prompt condition the flow received ``[n_mels, 2 * len(prompt_speech)]``.
        capped: a piece stopped at the maximum length rather than at an end of speech.
    """

    id: str
    audio: np.ndarray
    sample_rate: int
    text_tokens: list[int] = field(default_factory=list)
    prompt_text_tokens: list[int] = field(default_factory=list)
    prompt_speech_tokens: list[int] = field(default_factory=list)
    speaker_embedding: list[float] = field(default_factory=list)
    speech_tokens: list[int] = field(default_factory=list)
    mel: np.ndarray | None = None
    prompt_mel: np.ndarray | None = None
    capped: bool = False
    error: SynthesisError | None = None

    @property
    def duration_s(self) -> float:
        return len(self.audio) / self.sample_rate


@dataclass(eq=False)
class AudioChunk:
    """A piece of a streamed line.

    Attributes:
        audio: float32 ``[samples]``, to be appended to the previous chunks.
        index: 0 for the first chunk.
        final: the line's last chunk (its `Synthesis` is then in ``result``).
        seconds: wall time from the start of the request to this chunk.
    """

    id: str
    audio: np.ndarray
    sample_rate: int
    index: int
    final: bool
    seconds: float
    result: Synthesis | None = None


class SpeechGenerator(ABC):
    """Text + voice prompt -> audio, offline (batched) and streaming."""

    @property
    @abstractmethod
    def sample_rate(self) -> int:
        """Output rate in Hz."""

    @property
    def speakers(self) -> list[str]:
        """Built-in speaker names (empty when the model has none)."""
        return []

    @abstractmethod
    def synthesize(self, requests: Sequence[SynthesisRequest]) -> list[Synthesis]:
        """One `Synthesis` per request, in order; a failed line carries its error."""

    @abstractmethod
    def stream(self, request: SynthesisRequest) -> Iterator[AudioChunk]:
        """The line's audio in chunks; the last chunk is ``final`` with the `Synthesis`.

        Raises:
            SynthesisError: the line cannot be synthesised (before any chunk is yielded).
        """


class TokenVocoder(ABC):
    """Speech tokens + voice -> audio, without a text LM (see the module docstring)."""

    @property
    @abstractmethod
    def sample_rate(self) -> int:
        """Output rate in Hz."""

    @abstractmethod
    def speech_tokens(self, wave: np.ndarray, sample_rate: int) -> list[int]:
        """The speech tokens of mono speech ``[N]`` at ``sample_rate``."""

    @abstractmethod
    def speak_tokens(self, requests: Sequence[TokenRequest]) -> list[Synthesis]:
        """One `Synthesis` per request, in order (``speech_tokens`` the given tokens, no text
        tokens); a failed line carries its error and never stops the others."""
