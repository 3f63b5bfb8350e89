"""The ``seamless`` backend: SeamlessM4T v2 (transformers), optionally re-voiced by CosyVoice 2.

Each batch of segments (16 kHz) runs through one model in up to three stages:

- ``s2st``: the speech encoder once, then one `generate` call for the target text and the
  target speech (16 kHz, in Seamless's own voice: its vocoder speaker 0);
- ``asr``: ``source_text`` is Seamless's own transcript (speech-to-text into the source
  language), decoded from the speech encoder output of ``s2st`` (so it costs one text
  decoding, not another encoder pass); ``""`` for segments whose language is unknown
  (``--source auto``: Seamless has no language identification);
- ``revoice`` (``--voice keep``): Seamless's speech -> S3 v2 tokens -> the CosyVoice 2 flow and
  HiFT (`TokenVocoder.speak_tokens`) conditioned on the source segment (prompt tokens, prompt
  mel, CAM++ speaker vector): the translation in the speaker's timbre, at the vocoder's rate
  (24 kHz). With ``--voice none`` the output is Seamless's 16 kHz speech, not voice preserving.

A batch that fails is retried segment by segment, so one bad segment fails alone
(``s2st_failed``, ``revoice_failed``). Each stage's wall time is shared out in proportion to
segment length. A segment's output depends a little on its batch: transformers' speech adapter
convolves past each item's end into the padding, so reruns match when the batches do.

Models (Hub id or directory): ``--model`` (default ``facebook/seamless-m4t-v2-large``: config,
generation config with the language maps, safetensors, ``preprocessor_config.json`` and the
tokenizer; its ``sentencepiece.bpe.model`` needs the ``sentencepiece`` package, a
``tokenizer.json`` does not) and ``--tts-model`` for re-voicing (default
``FunAudioLLM/CosyVoice2-0.5B``). With ``random_weights``, models not given are tiny random
ones (`random_seamless`, the CosyVoice 2 debug model); nothing falls back to them.
"""

from __future__ import annotations

import math
import time
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from audiotok.audio.resample import resample
from audiotok.errors import WeightsNotFoundError
from models.s2st.languages import LANGUAGES, iso1, seamless_code
from models.s2st.translator import (
    SegmentError,
    SegmentInput,
    SegmentOutput,
    TranslationSetupError,
    Translator,
    TranslatorOptions,
    register_translator,
)
from models.tts.cosyvoice2.files import HUB_ID as DEFAULT_TTS
from models.tts.generator import TokenRequest, TokenVocoder, Voice
from models.tts.registry import load_generator

DEFAULT_MODEL = "facebook/seamless-m4t-v2-large"
INPUT_RATE = 16000  # the feature extractor's rate
MIN_SEGMENT_S = 0.1
SILENCE_PEAK = 1e-4
SPEAKER_ID = 0  # Seamless's vocoder speaker with --voice none
#: What a batch's generate may raise on bad input; anything else is a bug and propagates.
RECOVERABLE = (RuntimeError, ValueError, IndexError)
TOKENIZER_FILES = ("tokenizer.json", "sentencepiece.bpe.model")
LANGUAGE_MAPS = ("text_decoder_lang_to_code_id", "t2u_lang_code_to_id", "vocoder_lang_code_to_id")
GET_IT = (
    f"download it with `huggingface-cli download {DEFAULT_MODEL} --local-dir DIR` and pass "
    "--model DIR (or the Hub id on a machine that reaches the Hub)"
)


@dataclass(frozen=True)
class Component:
    """A built stage and how it was built (for `describe` and the resume settings)."""

    source: str
    random: bool = False


@dataclass(eq=False)
class SeamlessParts:
    """A loaded SeamlessM4T v2.

    Attributes:
        model: the `SeamlessM4Tv2Model`, in eval mode on its device.
        features: its `SeamlessM4TFeatureExtractor` (16 kHz waves -> ``[B, F, 160]``).
        tokenizer: its text tokenizer (decodes the target and source text).
        source: where it came from (`describe`).
        random: built with random weights.
    """

    model: Any
    features: Any
    tokenizer: Any
    source: str
    random: bool = False

    @property
    def sample_rate(self) -> int:
        return int(self.model.config.sampling_rate)

    @property
    def text_languages(self) -> set[str]:
        """Seamless codes it can write text in (ASR and speech-to-text)."""
        return set(getattr(self.model.generation_config, LANGUAGE_MAPS[0], None) or {})

    @property
    def speech_languages(self) -> set[str]:
        """Seamless codes it can speak (every map `generate` reads for speech has them)."""
        maps = [getattr(self.model.generation_config, key, None) or {} for key in LANGUAGE_MAPS]
        return set(maps[0]).intersection(*maps[1:])


@dataclass(eq=False)
class _Work:
    """One `translate` call's state: inputs at 16 kHz, outputs, Seamless's speech."""

    segments: Sequence[SegmentInput]
    outputs: list[SegmentOutput]
    waves: list[np.ndarray]
    weights: list[int]
    speech: dict[int, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class _Heard:
    """Seamless's transcript of one segment (``error``: its language cannot be written)."""

    text: str = ""
    language: str | None = None
    error: SegmentError | None = None


@dataclass(eq=False)
class _Encoded:
    """A batch through the speech encoder.

    Attributes:
        features: ``[B, F, 160]``; mask: ``[B, F]``; hidden: the encoder output ``[B, F', H]``.
    """

    features: torch.Tensor
    mask: torch.Tensor
    hidden: torch.Tensor

    def rows(self, rows: list[int]) -> dict[str, Any]:
        """`generate` arguments of a subset of the batch, with its encoder output."""
        from transformers.modeling_outputs import BaseModelOutput

        return {
            "input_features": self.features[rows],
            "attention_mask": self.mask[rows],
            "encoder_outputs": BaseModelOutput(last_hidden_state=self.hidden[rows]),
        }


class SeamlessTranslator(Translator):
    """SeamlessM4T v2 over a batch of segments (see the module docstring).

    Args:
        parts: the loaded model.
        target: the target language (ISO 639-1).
        revoicer: the vocoder that re-voices Seamless's speech, or None (Seamless's voice).
        components: how each part was built (``model``, ``revoice``).
    """

    def __init__(
        self,
        parts: SeamlessParts,
        target: str,
        revoicer: TokenVocoder | None,
        components: dict[str, Component],
    ) -> None:
        self.parts = parts
        self.target = iso1(target)
        self.revoicer = revoicer
        self.components = components

    @property
    def sample_rate(self) -> int:
        return self.revoicer.sample_rate if self.revoicer is not None else self.parts.sample_rate

    @property
    def voice_preserving(self) -> bool:
        return self.revoicer is not None

    def describe(self) -> dict[str, Any]:
        return {
            "backend": "seamless",
            **{name: part.source for name, part in self.components.items()},
            "source_text": "Seamless's own ASR",
            "voice_preserving": self.voice_preserving,
            "random": sorted(name for name, part in self.components.items() if part.random),
        }

    def translate(self, segments: Sequence[SegmentInput]) -> list[SegmentOutput]:
        empty = np.zeros(0, np.float32)
        work = _Work(
            segments=segments,
            outputs=[
                SegmentOutput(s.id, "", "", empty, self.sample_rate, s.source_language)
                for s in segments
            ],
            waves=[_input_wave(s) for s in segments],
            weights=[max(1, s.wave.size) for s in segments],
        )
        for i, segment in enumerate(segments):
            work.outputs[i].error = _check_input(segment, work.waves[i])
        _isolating(
            lambda indices: self._translate_batch(work, indices),
            [i for i, o in enumerate(work.outputs) if o.error is None],
            lambda i, exc: _fail(work.outputs[i], "s2st_failed", exc),
        )
        live = [i for i, o in enumerate(work.outputs) if o.error is None]
        if self.revoicer is None:
            for i in live:
                work.outputs[i].audio = work.speech[i]
        elif live:
            start = time.perf_counter()
            revoicer = self.revoicer
            _isolating(
                lambda indices: self._revoice(revoicer, work, indices),
                live,
                lambda i, exc: _fail(work.outputs[i], "revoice_failed", exc),
            )
            _share(work, live, "revoice", time.perf_counter() - start)
        return work.outputs

    # -- Seamless ----------------------------------------------------------------------------

    def _translate_batch(self, work: _Work, indices: list[int]) -> None:
        """S2ST and ASR of the segments ``indices`` in one batch (sampling, where the
        checkpoint samples, seeded by the first one's seed)."""
        seed = work.segments[indices[0]].seed
        start = time.perf_counter()
        with _seeded(seed, self.parts.model.device):
            encoded = self._encode([work.waves[i] for i in indices])
            texts, speech = self._s2st(encoded)
            s2st_s = time.perf_counter() - start
            heard = self._hear(encoded, [work.segments[i].source_language for i in indices])
        asr_s = time.perf_counter() - start - s2st_s
        for row, i in enumerate(indices):
            output = work.outputs[i]
            output.target_text, output.source_text = texts[row], heard[row].text
            output.source_language = heard[row].language
            output.error = heard[row].error or _check_output(texts[row], speech[row])
            work.speech[i] = speech[row]
        _share(work, indices, "s2st", s2st_s)
        _share(work, indices, "asr", asr_s)

    def _encode(self, waves: list[np.ndarray]) -> _Encoded:
        """Features and the speech encoder output of 16 kHz waves."""
        device = self.parts.model.device
        inputs = self.parts.features(
            waves, sampling_rate=INPUT_RATE, padding=True, return_tensors="pt"
        )
        features = inputs["input_features"].to(device, self.parts.model.dtype)  # [B, F, 160]
        mask = inputs["attention_mask"].to(device)  # [B, F]
        with torch.inference_mode():
            hidden = self.parts.model.speech_encoder(
                input_features=features, attention_mask=mask
            ).last_hidden_state  # [B, F', H]
        return _Encoded(features, mask, hidden)

    def _s2st(self, encoded: _Encoded) -> tuple[list[str], list[np.ndarray]]:
        """Target texts and float32 16 kHz speech ``[N_i]`` of an encoded batch."""
        inputs = encoded.rows(list(range(encoded.features.shape[0])))
        with torch.inference_mode():
            out = self.parts.model.generate(
                input_features=inputs["input_features"],
                attention_mask=inputs["attention_mask"],
                text_encoder_outputs=inputs["encoder_outputs"],
                tgt_lang=seamless_code(self.target),
                speaker_id=SPEAKER_ID,
                return_intermediate_token_ids=True,
            )
        texts = self._decode(out.sequences)
        lengths = out.waveform_lengths.reshape(-1).tolist()  # a lone item's comes as a scalar
        waves = out.waveform.float().cpu().numpy()  # [B, max N]
        return texts, [waves[row, : int(n)].copy() for row, n in enumerate(lengths)]

    def _hear(self, encoded: _Encoded, languages: list[str | None]) -> list[_Heard]:
        """Seamless's ASR of each row (``""`` where the language is unknown), one decoding
        per language."""
        heard = [_Heard() for _ in languages]
        groups: dict[str, list[int]] = defaultdict(list)
        for row, language in enumerate(languages):
            if language is not None:
                groups[iso1(language)].append(row)
        for language, rows in groups.items():
            code = self._text_code(language)
            if code is None:
                error = SegmentError("unsupported_language", f"Seamless cannot write {language!r}")
                for row in rows:
                    heard[row] = _Heard("", language, error)
                continue
            with torch.inference_mode():
                out = self.parts.model.generate(
                    **encoded.rows(rows), tgt_lang=code, generate_speech=False
                )
            for row, text in zip(rows, self._decode(out.sequences), strict=True):
                heard[row] = _Heard(text, language)
        return heard

    def _text_code(self, language: str) -> str | None:
        try:
            code = seamless_code(language)
        except TranslationSetupError:
            return None
        return code if code in self.parts.text_languages else None

    def _decode(self, sequences: torch.Tensor) -> list[str]:
        texts = self.parts.tokenizer.batch_decode(sequences, skip_special_tokens=True)
        return [str(text).strip() for text in texts]

    # -- re-voicing ------------------------------------------------------------------------

    def _revoice(self, revoicer: TokenVocoder, work: _Work, live: list[int]) -> None:
        """Seamless's speech of ``live`` spoken again in each source segment's timbre."""
        requests = []
        for i in live:
            segment = work.segments[i]
            tokens = revoicer.speech_tokens(work.speech[i], self.parts.sample_rate)
            voice = Voice(segment.wave, segment.sample_rate, "", segment.id)
            requests.append(TokenRequest(segment.id, tokens, voice, seed=segment.seed))
        for i, result in zip(live, revoicer.speak_tokens(requests), strict=True):
            if result.error is not None:
                work.outputs[i].error = SegmentError("revoice_failed", str(result.error))
            else:
                work.outputs[i].audio = np.asarray(result.audio, np.float32)


def _isolating(
    run: Callable[[list[int]], None],
    indices: list[int],
    fail: Callable[[int, Exception], None],
) -> None:
    """``run(indices)`` as one batch; if it raises, each index alone, and ``fail(i, error)``
    for an index that fails alone."""
    if not indices:
        return
    try:
        run(indices)
    except RECOVERABLE as exc:
        if len(indices) == 1:
            fail(indices[0], exc)
            return
        for i in indices:
            _isolating(run, [i], fail)


def _fail(output: SegmentOutput, reason: str, exc: Exception) -> None:
    output.error = SegmentError(reason, f"{type(exc).__name__}: {str(exc).strip()[:500]}")
    output.audio = np.zeros(0, np.float32)


def _input_wave(segment: SegmentInput) -> np.ndarray:
    """The segment as float32 mono at 16 kHz ``[N]`` (empty if its rate is not positive)."""
    wave = np.asarray(segment.wave, dtype=np.float32).reshape(-1)
    if segment.sample_rate <= 0:
        return np.zeros(0, np.float32)
    return resample(wave, segment.sample_rate, INPUT_RATE) if wave.size else wave


def _check_input(segment: SegmentInput, wave: np.ndarray) -> SegmentError | None:
    if segment.sample_rate <= 0:
        return SegmentError("no_speech", f"{segment.id}: sample rate {segment.sample_rate}")
    if wave.size < MIN_SEGMENT_S * INPUT_RATE:
        return SegmentError(
            "no_speech", f"{segment.id}: {wave.size / INPUT_RATE:.3f} s; at least {MIN_SEGMENT_S} s"
        )
    if not np.isfinite(wave).all() or float(np.abs(wave).max()) < SILENCE_PEAK:
        return SegmentError("no_speech", f"{segment.id}: silent or not finite")
    return None


def _check_output(text: str, speech: np.ndarray) -> SegmentError | None:
    if not text:
        return SegmentError("empty_translation", "Seamless wrote no target text")
    if not speech.size:
        return SegmentError("empty_speech", "Seamless spoke no target speech")
    return None


def _share(work: _Work, indices: list[int], stage: str, seconds: float) -> None:
    """Adds ``seconds`` of ``stage`` to ``indices`` in proportion to their length."""
    total = sum(work.weights[i] for i in indices)
    for i in indices:
        stages = work.outputs[i].stage_s
        stages[stage] = stages.get(stage, 0.0) + seconds * work.weights[i] / total


@contextmanager
def _seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Seeds torch's generators for a block and restores them after (only a checkpoint whose
    generation config samples uses them: Seamless decodes by beam search or greedily)."""
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        yield


# --- building -------------------------------------------------------------------------------


def build_seamless(options: TranslatorOptions) -> SeamlessTranslator:
    """The seamless backend for ``options`` (see the module docstring).

    Raises:
        TranslationSetupError: a cascade-only option, a language Seamless cannot write or
            speak, a re-voicing model that cannot vocode S3 tokens.
        WeightsNotFoundError: a model that is neither on disk nor on the Hub.
    """
    _check_options(options)
    if options.model is None and options.random_weights:
        parts = random_seamless(options.seed, device=options.device)
    else:
        parts = load_seamless(options.model or DEFAULT_MODEL, device=options.device)
    _check_languages(parts, options)
    revoicer, revoice = _build_revoicer(options)
    components = {"model": Component(parts.source, parts.random), "revoice": revoice}
    return SeamlessTranslator(parts, options.target, revoicer, components)


def _check_options(options: TranslatorOptions) -> None:
    if options.voice not in ("keep", "none"):
        raise TranslationSetupError(
            f"seamless: --voice must be keep or none, not {options.voice!r}"
        )
    cascade_only = [
        f"--{name.replace('_', '-')}"
        for name in ("asr_model", "mt_model")
        if getattr(options, name) is not None
    ]
    if cascade_only:
        raise TranslationSetupError(
            f"seamless: {', '.join(cascade_only)} belong to the cascade backend; seamless is "
            "one model (--model)"
        )
    if options.voice == "none" and options.tts_model is not None:
        raise TranslationSetupError(
            "seamless: --tts-model re-voices Seamless's speech with --voice keep; with "
            "--voice none Seamless speaks in its own voice"
        )


def _check_languages(parts: SeamlessParts, options: TranslatorOptions) -> None:
    target = seamless_code(options.target)
    if target not in parts.speech_languages:
        raise TranslationSetupError(
            f"seamless: {parts.source} cannot speak {options.target!r} ({target}); it speaks "
            f"{', '.join(sorted(parts.speech_languages))}"
        )
    if options.source != "auto" and seamless_code(options.source) not in parts.text_languages:
        raise TranslationSetupError(
            f"seamless: {parts.source} cannot transcribe {options.source!r}; it writes "
            f"{', '.join(sorted(parts.text_languages))}"
        )


def _build_revoicer(options: TranslatorOptions) -> tuple[TokenVocoder | None, Component]:
    if options.voice == "none":
        return None, Component("none (Seamless's own voice)")
    if options.tts_model is None and options.random_weights:
        generator = load_generator(None, random_weights=True, device=options.device)
        part = Component("tiny random CosyVoice 2 (flow + HiFT)", random=True)
    else:
        source = options.tts_model or DEFAULT_TTS
        generator = load_generator(source, device=options.device)
        part = Component(f"{source} (flow + HiFT)")
    if not isinstance(generator, TokenVocoder):
        raise TranslationSetupError(
            f"seamless: the tts model {part.source} cannot voice S3 speech tokens; pass a "
            "CosyVoice 2 model with --tts-model, or --voice none"
        )
    return generator, part


def load_seamless(source: str | Path, *, device: str = "cpu") -> SeamlessParts:
    """A SeamlessM4T v2 from a Hub id or a directory (transformers' layout).

    Raises:
        WeightsNotFoundError: no such directory, a file missing, or the Hub unreachable.
        TranslationSetupError: not a SeamlessM4T v2 checkpoint, or its tokenizer cannot be
            read here.
    """
    name = str(source)
    _check_source(name)
    from transformers import AutoFeatureExtractor, SeamlessM4Tv2Model

    tokenizer = _load_tokenizer(name)
    try:
        features = AutoFeatureExtractor.from_pretrained(name)
        model = SeamlessM4Tv2Model.from_pretrained(name)
    except OSError as exc:
        raise WeightsNotFoundError(f"seamless model {name}: {_first_line(exc)}; {GET_IT}") from exc
    except ValueError as exc:
        raise TranslationSetupError(
            f"seamless model {name}: not a SeamlessM4T v2 checkpoint ({_first_line(exc)})"
        ) from exc
    parts = SeamlessParts(_on_device(model, device), features, tokenizer, name)
    if not parts.speech_languages:
        raise TranslationSetupError(
            f"seamless model {name}: its generation config lacks the language maps generate "
            f"needs ({', '.join(LANGUAGE_MAPS)}); not a SeamlessM4T v2 checkpoint"
        )
    return parts


def _check_source(name: str) -> None:
    """A local directory holds the files `load_seamless` reads first; a name that is not a
    directory must be a Hub id (``owner/name``)."""
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise WeightsNotFoundError(
                f"seamless model {path}: no config.json (not a transformers model); {GET_IT}"
            )
        if not any((path / file).is_file() for file in TOKENIZER_FILES):
            raise WeightsNotFoundError(
                f"seamless model {path}: no tokenizer ({' or '.join(TOKENIZER_FILES)}); {GET_IT}"
            )
        return
    if path.exists() or name.startswith((".", "/", "~")) or name.count("/") != 1:
        raise WeightsNotFoundError(f"seamless model {name}: no such directory; {GET_IT}")


def _load_tokenizer(name: str) -> Any:
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(name)
    except OSError as exc:
        raise WeightsNotFoundError(f"seamless model {name}: {_first_line(exc)}; {GET_IT}") from exc
    except (ImportError, ValueError) as exc:
        raise TranslationSetupError(
            f"seamless model {name}: cannot read its tokenizer ({_first_line(exc)}); a "
            "sentencepiece.bpe.model needs `pip install sentencepiece`"
        ) from exc


def _on_device(model: Any, device: str) -> Any:
    """The model in eval mode on ``device``."""
    return model.to(device).eval()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# --- the tiny random model ------------------------------------------------------------------

#: Seamless's first four ids: padding, unknown, beginning and end of sentence.
SPECIAL_TOKENS = ("<pad>", "<unk>", "<s>", "</s>")
#: The random model's words (SentencePiece style: ``▁`` starts a word) and letters.
RANDOM_WORDS = (
    *(
        f"▁{word}"
        for word in ("the", "a", "of", "and", "to", "in", "is", "it", "speech", "sound", "one")
    ),
    *"abcdefghijklmnopqrstuvwxyz",
    ".",
    ",",
)
RANDOM_UNITS = 24
#: The random model's fixed durations: units per character, vocoder frames per unit.
RANDOM_UNITS_PER_CHAR = 2
RANDOM_FRAMES_PER_UNIT = 1
#: Bounds a random model's text (it never predicts an end of sentence on purpose).
RANDOM_MIN_TOKENS = 2
RANDOM_MAX_TOKENS = 12


def random_seamless(seed: int = 0, *, device: str = "cpu") -> SeamlessParts:
    """A tiny SeamlessM4T v2 with seeded random weights, for tests and ``--random-weights``
    only (its text and speech mean nothing): `debug_config` sizes, fixed durations, a
    tokenizer of `RANDOM_WORDS` and one token per language of the first release, and the
    generation config's language maps and character tables that `generate` reads."""
    from transformers import SeamlessM4TFeatureExtractor, SeamlessM4Tv2Model

    warnings.warn(
        "seamless: a tiny RANDOMLY initialised SeamlessM4T v2; its output means nothing",
        stacklevel=2,
    )
    languages = [seamless_code(code) for code in LANGUAGES]
    tokenizer = random_tokenizer(languages)
    config = debug_config(len(tokenizer), len(_random_chars()) + 2, len(languages))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = SeamlessM4Tv2Model(config)
    _fix_durations(model)
    _random_generation_config(model.generation_config, tokenizer.get_vocab(), languages)
    return SeamlessParts(
        _on_device(model, device),
        SeamlessM4TFeatureExtractor(),
        tokenizer,
        "tiny random SeamlessM4T v2",
        random=True,
    )


def debug_config(
    vocab_size: int, char_vocab_size: int, num_languages: int, units: int = RANDOM_UNITS
) -> Any:
    """A `SeamlessM4Tv2Config` of one layer per stack and 16-wide states (~100k weights).

    The vocoder takes unit ids without an offset (``vocoder_offset=0``, as many units as the
    text-to-unit model writes), so a random text-to-unit model cannot write an id the
    vocoder lacks; its upsampling keeps the real 320 samples per unit (16 kHz at 50 Hz).
    """
    from transformers import SeamlessM4Tv2Config

    width, ffn, heads = 16, 32, 2
    stacks = ("encoder", "decoder", "speech_encoder", "t2u_encoder", "t2u_decoder")
    sizes: dict[str, Any] = {
        **{f"{stack}_layers": 1 for stack in stacks},
        **{f"{stack}_attention_heads": heads for stack in stacks},
        **{
            f"{stack}_ffn_dim": ffn
            for stack in ("encoder", "decoder", "t2u_encoder", "t2u_decoder")
        },
        "speech_encoder_intermediate_size": ffn,
        "hidden_size": width,
        "t2u_variance_predictor_embed_dim": width,
        "t2u_variance_predictor_hidden_dim": width,
    }
    return SeamlessM4Tv2Config(
        vocab_size=vocab_size,
        t2u_vocab_size=units,
        char_vocab_size=char_vocab_size,
        initializer_range=0.5,  # spread activations: outputs that depend on the input
        max_position_embeddings=64,
        t2u_max_position_embeddings=256,
        conv_depthwise_kernel_size=3,
        left_max_position_embeddings=8,
        right_max_position_embeddings=4,
        encoder_layerdrop=0.0,
        decoder_layerdrop=0.0,
        speech_encoder_layerdrop=0.0,
        upsample_initial_channel=32,  # halved by each of the 5 upsamplings
        resblock_kernel_sizes=(3,),
        resblock_dilation_sizes=((1,),),
        unit_hifi_gan_vocab_size=units,
        unit_embed_dim=8,
        lang_embed_dim=4,
        spkr_embed_dim=4,
        vocoder_num_langs=num_languages,
        vocoder_num_spkrs=1,
        vocoder_offset=0,
        **sizes,
    )


def _fix_durations(model: Any) -> None:
    """Constant durations (`RANDOM_UNITS_PER_CHAR`, `RANDOM_FRAMES_PER_UNIT`): random
    duration predictors would make a second of speech or an hour, by the seed."""
    predictors = (
        (model.t2u_model.model.decoder.duration_predictor, RANDOM_UNITS_PER_CHAR),
        (model.vocoder.dur_predictor, RANDOM_FRAMES_PER_UNIT),
    )
    with torch.no_grad():
        for predictor, duration in predictors:
            predictor.proj.weight.zero_()
            predictor.proj.bias.fill_(math.log1p(duration))  # it predicts log(1 + duration)


def random_tokenizer(languages: Sequence[str]) -> Any:
    """A `SeamlessM4TTokenizer` of `SPECIAL_TOKENS`, `RANDOM_WORDS` and ``__fra__``-style
    language tokens (special, so decoding drops them), built without files."""
    from transformers import SeamlessM4TTokenizer

    language_tokens = [f"__{code}__" for code in languages]
    tokens = [*SPECIAL_TOKENS, *RANDOM_WORDS, *language_tokens]
    return SeamlessM4TTokenizer(
        vocab={token: i for i, token in enumerate(tokens)},
        merges=[],
        additional_special_tokens=language_tokens,
        src_lang=languages[0],
        tgt_lang=languages[0],
    )


def _random_chars() -> list[str]:
    return sorted({char for word in RANDOM_WORDS for char in word})


def _random_generation_config(config: Any, vocab: dict[str, int], languages: list[str]) -> None:
    """What `SeamlessM4Tv2Model.generate` reads besides the weights: the target language's
    token (text decoder) and index (text-to-unit, vocoder), each id's text and the character
    ids of the text-to-unit model (0: padding, 1: unknown); the text is bounded and never
    a special token."""
    config.text_decoder_lang_to_code_id = {code: vocab[f"__{code}__"] for code in languages}
    config.t2u_lang_code_to_id = {code: i for i, code in enumerate(languages)}
    config.vocoder_lang_code_to_id = {code: i for i, code in enumerate(languages)}
    config.id_to_text = {str(i): token for token, i in vocab.items()}
    config.char_to_id = {char: i + 2 for i, char in enumerate(_random_chars())}
    config.min_new_tokens = RANDOM_MIN_TOKENS
    config.max_new_tokens = RANDOM_MAX_TOKENS
    config._from_model_config = False  # saved, it loads with these fields (else dropped)
    eos = vocab[SPECIAL_TOKENS[3]]
    config.suppress_tokens = sorted(
        i for token, i in vocab.items() if i != eos and token not in RANDOM_WORDS
    )


register_translator("seamless", build_seamless)
