"""The built-in reconstruction metrics (see `audiotok.metrics.registry`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from audiotok.errors import AudiotokError, MetricError
from audiotok.metrics import perceptual, signal
from audiotok.metrics.registry import (
    MetricOutput,
    MetricPair,
    ReconstructionMetric,
    check_finite,
    register_metric,
)
from audiotok.requirements import PythonPackage, Requirement


class FunctionMetric(ReconstructionMetric):
    """One value from a function of the aligned pair; see `_register_function_metric`."""

    score: ClassVar[Callable[[MetricPair], float]]
    needs: ClassVar[tuple[Requirement, ...]] = ()

    def requirements(self) -> list[Requirement]:
        return list(self.needs)

    def __call__(self, pair: MetricPair) -> dict[str, Any]:
        return {self.name: check_finite(self.name, type(self).score(pair))}


def _register_function_metric(
    name: str, label: str, higher_is_better: bool, unit: str, score: Callable[[MetricPair], float]
) -> None:
    attributes = {
        "outputs": (MetricOutput(name, label, higher_is_better, unit),),
        "score": score,
        "needs": _PACKAGES.get(name, ()),
    }
    register_metric(name)(type(f"Metric_{name}", (FunctionMetric,), attributes))


_PESQ = (PythonPackage("pesq", "pesq"),)
_STOI = (PythonPackage("pystoi", "pystoi"),)
_PACKAGES = {"pesq_wb": _PESQ, "pesq_nb": _PESQ, "stoi": _STOI, "estoi": _STOI}


# name, label, higher is better, unit, score of an aligned pair
_FUNCTION_METRICS: tuple[tuple[str, str, bool, str, Callable[[MetricPair], float]], ...] = (
    ("si_sdr", "SI-SDR", True, "dB", lambda p: signal.si_sdr(p.reference, p.degraded)),
    (
        "mel_distance",
        "Mel distance",
        False,
        "",
        lambda p: signal.mel_distance(p.reference, p.degraded, p.rate),
    ),
    (
        "stft_distance",
        "MR-STFT distance",
        False,
        "",
        lambda p: signal.multi_resolution_stft_distance(p.reference, p.degraded, p.rate),
    ),
    (
        "mcd",
        "MCD",
        False,
        "dB",
        lambda p: signal.mel_cepstral_distortion(p.reference, p.degraded, p.rate),
    ),
    ("pesq_wb", "PESQ WB", True, "", lambda p: perceptual.pesq_wb(p.reference, p.degraded, p.rate)),
    ("pesq_nb", "PESQ NB", True, "", lambda p: perceptual.pesq_nb(p.reference, p.degraded, p.rate)),
    ("stoi", "STOI", True, "", lambda p: perceptual.stoi(p.reference, p.degraded, p.rate)),
    ("estoi", "ESTOI", True, "", lambda p: perceptual.estoi(p.reference, p.degraded, p.rate)),
)
for _entry in _FUNCTION_METRICS:
    _register_function_metric(*_entry)


@register_metric("f0")
class F0Error(ReconstructionMetric):
    """F0 RMSE (cents, frames voiced in both) and voicing decision error (fraction)."""

    outputs: ClassVar = (
        MetricOutput("f0_rmse", "F0 RMSE", False, "cents"),
        MetricOutput("voicing_error", "Voicing error", False),
    )

    def __call__(self, pair: MetricPair) -> dict[str, Any]:
        # Codecs differ in delay, so each aligned reference is cut a little differently: the
        # reference track is reused only for the very same samples.
        key = ("f0_track", pair.reference.size, pair.reference[:256].tobytes())
        track = pair.cache.get(key)
        if track is None:
            track = pair.cache[key] = signal.f0_track(pair.reference, pair.rate)
        scores = signal.f0_metrics(pair.reference, pair.degraded, pair.rate, reference_track=track)
        return {
            "f0_rmse": check_finite("f0_rmse", scores.rmse_cents),
            "voicing_error": check_finite("voicing_error", scores.voicing_error),
        }


class ModelMetric(ReconstructionMetric):
    """A metric that needs a model: built on first use, once; unavailable (with the reason)
    when it cannot be built here."""

    def __init__(self) -> None:
        self._model: Any = None

    def _build(self) -> Any:
        raise NotImplementedError

    def model(self) -> Any:
        if self._model is None:
            self._model = self._build()
        return self._model

    def availability(self) -> str | None:
        try:
            self.model()
        except AudiotokError as exc:
            return str(exc)
        return None


@register_metric("speaker_sim")
class SpeakerSimilarity(ModelMetric):
    """Cosine similarity of speaker embeddings (Resemblyzer unless another encoder is named;
    ``options`` go to `audiotok.speaker.get_speaker_encoder`, e.g. its ``weights``)."""

    outputs: ClassVar = (MetricOutput("speaker_sim", "Speaker similarity", True),)

    def __init__(self, encoder: str = "resemblyzer", **options: Any) -> None:
        super().__init__()
        self.encoder_name, self.options = encoder, options

    def requirements(self) -> list[Requirement]:
        from audiotok.speaker.base import speaker_requirements

        return speaker_requirements(self.encoder_name, **self.options)

    def _build(self) -> Any:
        from audiotok.speaker import get_speaker_encoder

        return get_speaker_encoder(self.encoder_name, **self.options)

    def __call__(self, pair: MetricPair) -> dict[str, Any]:
        encoder = self.model()
        key = f"speaker:{self.encoder_name}"
        if key not in pair.cache:
            pair.cache[key] = encoder.embed([pair.reference], pair.rate)[0]
        degraded = encoder.embed([pair.degraded], pair.rate)[0]
        return {"speaker_sim": check_finite("speaker_sim", float(pair.cache[key] @ degraded))}


@register_metric("dnsmos")
class DNSMOSMetric(ModelMetric):
    """DNSMOS P.835 of the reconstruction alone (no reference needed): overall, signal."""

    outputs: ClassVar = (
        MetricOutput("dnsmos_ovrl", "DNSMOS OVRL", True),
        MetricOutput("dnsmos_sig", "DNSMOS SIG", True),
    )

    def requirements(self) -> list[Requirement]:
        from audiotok.quality.dnsmos import DNSMOS

        return DNSMOS.requirements()

    def _build(self) -> Any:
        from audiotok.quality.dnsmos import DNSMOS

        return DNSMOS()

    def __call__(self, pair: MetricPair) -> dict[str, Any]:
        # Scored as it would be heard: a player clips what lies outside [-1, 1].
        scores = self.model()(np.clip(pair.degraded, -1.0, 1.0), pair.rate, p808=False)
        return {
            "dnsmos_ovrl": check_finite("dnsmos_ovrl", scores.ovrl),
            "dnsmos_sig": check_finite("dnsmos_sig", scores.sig),
        }


@register_metric("utmos")
class UTMOS(ReconstructionMetric):
    """UTMOS needs a trained predictor; audiotok has no UTMOS network to load weights into
    yet, so this metric always reports itself unavailable (never a made-up score)."""

    outputs: ClassVar = (MetricOutput("utmos", "UTMOS", True),)

    def __init__(self, weights: str | None = None) -> None:
        self.weights = weights

    def availability(self) -> str | None:
        given = f"weights {self.weights!r} were given, but " if self.weights else ""
        return f"{given}audiotok has no UTMOS predictor yet"

    def known_skip(self) -> str | None:
        return self.availability()

    def __call__(self, pair: MetricPair) -> dict[str, Any]:
        raise MetricError("utmos", str(self.availability()))


@register_metric("dwer")
class ASRDistance(ModelMetric):
    """dWER / dCER: the ASR transcript of the reconstruction scored against the ASR transcript
    of the original, at corpus level (edits summed over the corpus, not averaged per
    utterance). Per pair this returns both transcripts; `corpus_asr_distance` combines them.

    ``backend`` and ``options`` go to `audiotok.asr.get_asr` (default faster-whisper with the
    Whisper tiny.en model a package ships, so it runs offline: English only). Utterances whose
    known language the model cannot transcribe raise `MetricError` (skipped, with the reason).
    """

    outputs: ClassVar = (
        MetricOutput("dwer", "dWER", False, corpus=True),
        MetricOutput("dcer", "dCER", False, corpus=True),
    )

    def __init__(self, backend: str = "faster-whisper", **options: Any) -> None:
        super().__init__()
        self.backend, self.options = backend, options

    def requirements(self) -> list[Requirement]:
        from audiotok.asr.base import asr_requirements

        return asr_requirements(self.backend, **self.options)

    def _build(self) -> Any:
        from audiotok.asr import get_asr

        return get_asr(self.backend, **self.options)

    def __call__(self, pair: MetricPair) -> dict[str, Any]:
        asr = self.model()
        language = pair.language
        if language and not asr.covers(language):
            covered = ", ".join(sorted(asr.languages or ()))
            raise MetricError(
                "dwer", f"the ASR model covers {covered} only; utterance is {language!r}"
            )
        if "asr_reference" not in pair.cache:
            pair.cache["asr_reference"] = asr.transcribe([pair.reference], pair.rate, language)[0]
        hypothesis = asr.transcribe([pair.degraded], pair.rate, language)[0]
        return {"asr_reference": pair.cache["asr_reference"].text, "asr_text": hypothesis.text}


def corpus_asr_distance(pairs: list[tuple[str, str]]) -> dict[str, float | None]:
    """dWER and dCER over (reference transcript, reconstruction transcript) pairs: edits
    summed over the corpus divided by the reference words/characters."""
    from audiotok.metrics.text import character_error_rate, word_error_rate

    if not pairs:
        return {"dwer": None, "dcer": None}
    references = [reference for reference, _ in pairs]
    hypotheses = [hypothesis for _, hypothesis in pairs]
    return {
        "dwer": word_error_rate(references, hypotheses),
        "dcer": character_error_rate(references, hypotheses),
    }
