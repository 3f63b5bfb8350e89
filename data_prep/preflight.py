"""The configuration check `prepare` runs before it reads a file or starts Ray.

Every enabled stage lists what it needs (`audiotok.requirements`): the VAD's ONNX model, the
DNSMOS models, the ASR package and model, each tokenizer's package, program or weights, the
speaker encoder's weights. Each unmet need is one `Problem` line saying what is missing, how
to get it and which option turns the stage off.
"""

from __future__ import annotations

from collections.abc import Callable

from audiotok.asr.base import asr_requirements
from audiotok.errors import ComponentOptionError, UnknownComponentError
from audiotok.quality.dnsmos import DNSMOS
from audiotok.requirements import (
    Check,
    Problem,
    Requirement,
    Unmet,
    check,
    problems_of,
    raise_if_problems,
)
from audiotok.speaker.base import speaker_requirements
from audiotok.tokenizers.registry import tokenizer_requirements
from audiotok.vad.base import vad_requirements
from data_prep.config import PrepareConfig
from data_prep.stages.models import asr_enabled, asr_options


def prepare_checks(config: PrepareConfig) -> list[Check]:
    """Every stage ``config`` enables that needs something, with its problems (none: ready)."""
    checks: list[Check] = []
    seg, flt, asr, tok, spk = (
        config.segment,
        config.filter,
        config.asr,
        config.tokenize,
        config.speaker,
    )
    if seg.enabled:
        checks.append(
            _component(
                f"segment stage (VAD {seg.vad!r})",
                lambda: vad_requirements(seg.vad, **seg.vad_options),
                "turn VAD off with `segment: {enabled: false}` in --config",
            )
        )
    if flt.enabled and flt.dnsmos:
        component = "filter stage (DNSMOS)"
        problems = check(component, DNSMOS.requirements(), "set `filter: {dnsmos: false}`")
        checks.append(Check(component, problems))
    if asr_enabled(asr):
        checks.append(
            _component(
                f"asr stage ({asr.backend} {asr.model})",
                lambda: asr_requirements(asr.backend, **asr_options(asr)),
                "turn the stage off with `--asr none`",
            )
        )
    if tok.enabled:
        for spec in tok.specs:
            component = f"tokenize stage ({spec})"
            needs = tokenizer_requirements(spec, weights=tok.weights.get(spec), debug=tok.debug)
            checks.append(
                Check(component, check(component, needs, f"leave {spec} out of `--tokenizers`"))
            )
    if spk.enabled and spk.encoder != "none":
        checks.append(
            _component(
                f"speaker stage ({spk.encoder})",
                lambda: speaker_requirements(spk.encoder),
                "turn the stage off with `--speaker-encoder none`",
            )
        )
    return checks


def prepare_problems(config: PrepareConfig) -> list[Problem]:
    """Every unmet requirement of the stages ``config`` enables (empty: ready to run)."""
    return problems_of(prepare_checks(config))


def check_prepare(config: PrepareConfig) -> None:
    """Raise `ConfigurationError` (one line per problem) unless every enabled stage can run."""
    raise_if_problems("prepare", prepare_problems(config))


def _component(
    component: str, requirements: Callable[[], list[Requirement]], alternative: str
) -> Check:
    """`check` of a registry component; an unknown name or option is a problem too."""
    try:
        needs = requirements()
    except (UnknownComponentError, ComponentOptionError) as exc:
        needs = [Unmet(str(exc), "")]
    return Check(component, check(component, needs, alternative))
