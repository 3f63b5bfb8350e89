"""`TTS`: the Python face of ``audiotok tts``.

    from models.tts import TTS

    tts = TTS.from_pretrained("FunAudioLLM/CosyVoice2-0.5B")     # or a local directory
    audio = tts.synthesize(["Hello there."], voice="prompt.wav", voice_text="what it says")
    for chunk in tts.stream("A longer line.", voice="prompt.wav", voice_text="what it says"):
        play(chunk.samples)

`synthesize` returns one `Audio` per text and raises the `SynthesisError` of the first line that
fails (`generate` gives every line's full `Synthesis`, errors included, as the CLI uses it).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from audiotok.audio import Audio, load_audio
from models.tts.generator import SpeechGenerator, Synthesis, SynthesisRequest, Voice
from models.tts.registry import load_generator


class TTS:
    """A loaded speech generator with plain-text calls (see the module docstring)."""

    def __init__(self, generator: SpeechGenerator) -> None:
        self.generator = generator

    @classmethod
    def from_pretrained(
        cls, source: str | Path, *, device: str = "cpu", dtype: str = "float32"
    ) -> TTS:
        """From a Hub id or a model directory (official CosyVoice 2 layout or ours)."""
        return cls(load_generator(source, device=device, dtype=dtype))

    @classmethod
    def random(cls, *, device: str = "cpu") -> TTS:
        """A debug-size model with random weights (its speech means nothing: tests only)."""
        return cls(load_generator(None, random_weights=True, device=device))

    @property
    def sample_rate(self) -> int:
        return self.generator.sample_rate

    def generate(
        self,
        texts: Sequence[str],
        *,
        voice: str | Path | Voice | None = None,
        voice_text: str = "",
        speaker: str | None = None,
        greedy: bool = False,
        seed: int | None = None,
    ) -> list[Synthesis]:
        """Every line's `Synthesis` (tokens, mel, errors), in order."""
        prompt = _voice(voice, voice_text)
        requests = [
            SynthesisRequest(f"{i:04d}", text, prompt, speaker, greedy, _seed(seed, i))
            for i, text in enumerate(texts)
        ]
        return self.generator.synthesize(requests)

    def synthesize(
        self,
        texts: Sequence[str] | str,
        *,
        voice: str | Path | Voice | None = None,
        voice_text: str = "",
        speaker: str | None = None,
        greedy: bool = False,
        seed: int | None = None,
    ) -> list[Audio]:
        """One mono `Audio` per text.

        Raises:
            SynthesisError: a line cannot be spoken (its reason and detail).
        """
        lines = [texts] if isinstance(texts, str) else list(texts)
        results = self.generate(
            lines, voice=voice, voice_text=voice_text, speaker=speaker, greedy=greedy, seed=seed
        )
        for result in results:
            if result.error is not None:
                raise result.error
        return [Audio(result.audio[None], result.sample_rate) for result in results]

    def stream(
        self,
        text: str,
        *,
        voice: str | Path | Voice | None = None,
        voice_text: str = "",
        speaker: str | None = None,
        greedy: bool = False,
        seed: int | None = None,
    ) -> Iterator[Audio]:
        """The line's audio in chunks as they are vocoded (joined, they are the line)."""
        request = SynthesisRequest("0000", text, _voice(voice, voice_text), speaker, greedy, seed)
        for chunk in self.generator.stream(request):
            if chunk.audio.size:
                yield Audio(np.asarray(chunk.audio, np.float32)[None], chunk.sample_rate)
            result = chunk.result
            if result is not None and result.error is not None:
                raise result.error


def _voice(voice: str | Path | Voice | None, text: str) -> Voice | None:
    if voice is None or isinstance(voice, Voice):
        return voice
    audio = load_audio(Path(voice), mono=True)
    return Voice(audio.mono, audio.sample_rate, text=text, name=str(voice))


def _seed(seed: int | None, index: int) -> int | None:
    return None if seed is None else seed + index
