"""The ``cascade`` backend: ASR (faster-whisper) -> MT (transformers seq2seq) -> TTS.

Each stage runs once per batch of segments: the ASR transcribes every segment (forcing the
source language, or detecting it with ``auto``), the MT translates the transcripts grouped by
source language, and the speaker voices the translations. The speaker is either a
`SpeechGenerator` (CosyVoice 2, or the TouchTTS models) cloning the source segment, with its
ASR text as the prompt text, or an offline engine (espeak-ng; Piper for English) that speaks
in its own voice and is marked as not voice-preserving.

Defaults (loaded from the Hugging Face Hub or a directory given instead):

- ASR: the packaged Whisper tiny.en for English sources, ``large-v3`` for the others;
- MT: ``facebook/nllb-200-distilled-600M``;
- TTS: ``FunAudioLLM/CosyVoice2-0.5B`` with ``--voice keep``; Piper (English) or espeak-ng
  with ``--voice none``.

With ``random_weights``, components without packaged weights are tiny random models: a
multilingual Whisper (non-English sources), M2M100 and the CosyVoice 2 debug model. The
packaged tiny.en and the offline engines stay real.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from audiotok.asr import get_asr
from audiotok.asr.base import ASRBackend, Transcript
from audiotok.asr.faster_whisper_backend import packaged_tiny_en
from audiotok.audio.resample import resample
from audiotok.tts_engines import TTSEngine, TTSError, get_tts_engine
from models.s2st.languages import iso1
from models.s2st.mt import TextTranslator, load_text_translator
from models.s2st.translator import (
    SegmentError,
    SegmentInput,
    SegmentOutput,
    TranslationSetupError,
    Translator,
    TranslatorOptions,
    register_translator,
)
from models.tts.generator import SpeechGenerator, SynthesisRequest, Voice
from models.tts.registry import load_generator

DEFAULT_ASR = "large-v3"
DEFAULT_MT = "facebook/nllb-200-distilled-600M"
DEFAULT_TTS = "FunAudioLLM/CosyVoice2-0.5B"
ENGINES = ("espeak-ng", "piper")


@dataclass(frozen=True)
class Component:
    """A built stage and how it was built (for `describe` and the resume settings)."""

    source: str
    random: bool = False


class Speaker(ABC):
    """Voices translations: one audio per (text, source segment, its transcript)."""

    sample_rate: int
    voice_preserving: bool

    @abstractmethod
    def speak(
        self, items: Sequence[tuple[str, SegmentInput, str]]
    ) -> list[np.ndarray | SegmentError]:
        """Float32 audio at `sample_rate`, or the error, per item in order."""


class GeneratorSpeaker(Speaker):
    """A `SpeechGenerator`: the source segment is the voice prompt (``keep``), or the model's
    built-in speaker (``none``)."""

    def __init__(self, generator: SpeechGenerator, clone: bool) -> None:
        self.generator = generator
        self.clone = clone
        self.sample_rate = generator.sample_rate
        self.voice_preserving = clone

    def speak(
        self, items: Sequence[tuple[str, SegmentInput, str]]
    ) -> list[np.ndarray | SegmentError]:
        requests = [
            SynthesisRequest(
                segment.id,
                text,
                Voice(segment.wave, segment.sample_rate, heard, segment.id) if self.clone else None,
                seed=segment.seed,
            )
            for text, segment, heard in items
        ]
        results: list[np.ndarray | SegmentError] = []
        for result in self.generator.synthesize(requests):
            if result.error is not None:
                results.append(SegmentError("tts_failed", str(result.error)))
            else:
                results.append(np.asarray(result.audio, np.float32))
        return results


class EngineSpeaker(Speaker):
    """An offline engine's own voice, picked per speaker (a file keeps one voice)."""

    voice_preserving = False

    def __init__(self, engine: TTSEngine, language: str, sample_rate: int = 22050) -> None:
        self.engine = engine
        self.language = language
        self.sample_rate = sample_rate

    def speak(
        self, items: Sequence[tuple[str, SegmentInput, str]]
    ) -> list[np.ndarray | SegmentError]:
        return [self._one(text, segment) for text, segment, _ in items]

    def _one(self, text: str, segment: SegmentInput) -> np.ndarray | SegmentError:
        voice = self.engine.voice_for_speaker(segment.speaker or segment.id, self.language)
        try:
            audio, rate = self.engine.synthesize(text, self.language, voice)
        except TTSError as exc:
            return SegmentError("tts_failed", str(exc))
        return resample(audio, rate, self.sample_rate)


class CascadeTranslator(Translator):
    """ASR -> MT -> TTS over a batch of segments (see the module docstring)."""

    def __init__(
        self,
        options: TranslatorOptions,
        asr: ASRBackend,
        mt: TextTranslator | None,
        speaker: Speaker,
        parts: dict[str, Component],
    ) -> None:
        self.options = options
        self.target = iso1(options.target)
        self.asr = asr
        self.mt = mt
        self.speaker = speaker
        self.parts = parts

    @property
    def sample_rate(self) -> int:
        return self.speaker.sample_rate

    @property
    def voice_preserving(self) -> bool:
        return self.speaker.voice_preserving

    def describe(self) -> dict[str, Any]:
        return {
            "backend": "cascade",
            **{name: part.source for name, part in self.parts.items()},
            "voice_preserving": self.voice_preserving,
            "random": sorted(name for name, part in self.parts.items() if part.random),
        }

    def translate(self, segments: Sequence[SegmentInput]) -> list[SegmentOutput]:
        empty = np.zeros(0, np.float32)
        outputs = [
            SegmentOutput(s.id, "", "", empty, self.sample_rate, s.source_language)
            for s in segments
        ]
        weights = [max(1, s.wave.size) for s in segments]
        live = list(range(len(segments)))
        live = _timed(outputs, weights, "asr", live, lambda: self._hear(segments, outputs, live))
        live = _timed(outputs, weights, "mt", live, lambda: self._translate(outputs, live))
        _timed(outputs, weights, "tts", live, lambda: self._speak(segments, outputs, live))
        return outputs

    def _hear(
        self, segments: Sequence[SegmentInput], outputs: list[SegmentOutput], live: list[int]
    ) -> list[int]:
        groups: dict[str | None, list[int]] = defaultdict(list)
        for i in live:
            groups[segments[i].source_language].append(i)
        for language, indices in groups.items():
            waves = [segments[i].wave for i in indices]
            try:
                heard = self.asr.transcribe(waves, segments[indices[0]].sample_rate, language)
            except (ValueError, RuntimeError) as exc:
                _fail(outputs, indices, SegmentError("asr_failed", str(exc)))
                continue
            for i, transcript in zip(indices, heard, strict=True):
                _take_transcript(outputs[i], transcript, language)
        return [i for i in live if outputs[i].error is None]

    def _translate(self, outputs: list[SegmentOutput], live: list[int]) -> list[int]:
        groups: dict[str, list[int]] = defaultdict(list)
        for i in live:
            groups[outputs[i].source_language or self.target].append(i)
        for language, indices in groups.items():
            texts = [outputs[i].source_text for i in indices]
            if self.mt is None or iso1(language) == self.target:
                translated = texts
            else:
                try:
                    translated = self.mt.translate(texts, language, self.target)
                except (ValueError, RuntimeError, TranslationSetupError) as exc:
                    _fail(outputs, indices, SegmentError("mt_failed", str(exc)))
                    continue
            for i, text in zip(indices, translated, strict=True):
                outputs[i].target_text = text.strip()
                if not outputs[i].target_text:
                    outputs[i].error = SegmentError("empty_translation", "the MT returned nothing")
        return [i for i in live if outputs[i].error is None]

    def _speak(
        self, segments: Sequence[SegmentInput], outputs: list[SegmentOutput], live: list[int]
    ) -> list[int]:
        items = [(outputs[i].target_text, segments[i], outputs[i].source_text) for i in live]
        for i, spoken in zip(live, self.speaker.speak(items), strict=True):
            if isinstance(spoken, SegmentError):
                outputs[i].error = spoken
            else:
                outputs[i].audio = spoken
        return [i for i in live if outputs[i].error is None]


def _take_transcript(output: SegmentOutput, transcript: Transcript, forced: str | None) -> None:
    output.source_text = transcript.text
    output.source_language = forced or transcript.language
    if not transcript.text:
        output.error = SegmentError("empty_transcript", "the ASR heard no words")


def _fail(outputs: list[SegmentOutput], indices: Sequence[int], error: SegmentError) -> None:
    for i in indices:
        outputs[i].error = error


def _timed(
    outputs: list[SegmentOutput],
    weights: Sequence[int],
    stage: str,
    live: list[int],
    run: Callable[[], list[int]],
) -> list[int]:
    """Runs one stage over the ``live`` segments; its wall time is shared out among them in
    proportion to their length."""
    if not live:
        return live
    start = time.perf_counter()
    survivors = run()
    seconds = time.perf_counter() - start
    total = sum(weights[i] for i in live)
    for i in live:
        outputs[i].stage_s[stage] = seconds * weights[i] / total
    return survivors


# --- building -------------------------------------------------------------------------------


def build_cascade(options: TranslatorOptions) -> CascadeTranslator:
    """The cascade for ``options`` (see the module docstring for the defaults).

    Raises:
        TranslationSetupError: an English-only ASR for another language, an unknown engine.
        WeightsNotFoundError: a model that is neither on disk nor on the Hub.
    """
    if options.voice not in ("keep", "none"):
        raise TranslationSetupError(f"cascade: --voice must be keep or none, not {options.voice!r}")
    source = None if options.source == "auto" else iso1(options.source)
    asr, asr_part = _build_asr(options, source)
    mt, mt_part = _build_mt(options, source)
    speaker, tts_part = _build_speaker(options)
    parts = {"asr": asr_part, "mt": mt_part, "tts": tts_part}
    return CascadeTranslator(options, asr, mt, speaker, parts)


def _build_asr(options: TranslatorOptions, source: str | None) -> tuple[ASRBackend, Component]:
    device = "cuda" if options.device.startswith("cuda") else "cpu"
    if options.asr_model is not None:
        model, part = options.asr_model, Component(options.asr_model)
    elif source == "en" and (options.random_weights or packaged_tiny_en() is not None):
        model, part = "tiny.en", Component("tiny.en (packaged)")
    elif options.random_weights:
        raise TranslationSetupError(
            "cascade: no random multilingual ASR is built yet; with --random-weights use "
            "--source en (the packaged tiny.en) or pass --asr-model"
        )
    else:
        model, part = DEFAULT_ASR, Component(DEFAULT_ASR)
    asr = get_asr("faster-whisper", model=model, device=device, cpu_threads=options.threads)
    if source is not None and not asr.covers(source):
        raise TranslationSetupError(
            f"cascade: ASR model {part.source!r} cannot transcribe {source!r} (English only); "
            "pass --asr-model with a multilingual Whisper (e.g. large-v3)"
        )
    if source is None and asr.languages is not None and len(asr.languages) == 1:
        raise TranslationSetupError(
            f"cascade: --source auto needs a multilingual ASR; {part.source!r} is English only"
        )
    return asr, part


def _build_mt(
    options: TranslatorOptions, source: str | None
) -> tuple[TextTranslator | None, Component]:
    target = iso1(options.target)
    if source == target and options.mt_model is None:
        return None, Component("none (source and target are the same language)")
    if options.mt_model is not None:
        mt = load_text_translator(options.mt_model, device=options.device)
        return mt, Component(options.mt_model)
    if options.random_weights:
        raise TranslationSetupError(
            "cascade: no random MT model is built yet; with --random-weights pass --mt-model "
            "or translate into the source language"
        )
    return load_text_translator(DEFAULT_MT, device=options.device), Component(DEFAULT_MT)


def _build_speaker(options: TranslatorOptions) -> tuple[Speaker, Component]:
    target = iso1(options.target)
    name = options.tts_model
    if name in ENGINES or (name is None and options.voice == "none"):
        engine_name = name or _default_engine(target)
        speaker = EngineSpeaker(_engine(engine_name, target), target)
        return speaker, Component(f"{engine_name} (offline, not voice-preserving)")
    clone = options.voice == "keep"
    if name is None and options.random_weights:
        generator = load_generator(None, random_weights=True, device=options.device)
        return GeneratorSpeaker(generator, clone), Component("tiny random CosyVoice 2", True)
    source = name or DEFAULT_TTS
    generator = load_generator(source, device=options.device)
    return GeneratorSpeaker(generator, clone), Component(source)


def _default_engine(target: str) -> str:
    """Piper for English when its voice is installed (it sounds natural), else espeak-ng."""
    if target == "en":
        try:
            get_tts_engine("piper").check("en")
            return "piper"
        except TTSError:
            pass
    return "espeak-ng"


def _engine(name: str, language: str) -> TTSEngine:
    engine = get_tts_engine(name)
    try:
        engine.check(language)
    except TTSError as exc:
        raise TranslationSetupError(f"cascade: TTS engine {name!r}: {exc}") from exc
    return engine


register_translator("cascade", build_cascade)
