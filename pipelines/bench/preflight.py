"""The configuration check `audiotok bench` runs before it reads a file or starts Ray: every
tokenizer and every metric of the run lists what it needs (`audiotok.requirements`), and each
unmet need is one line naming it, what is missing and how to get it or leave it out.

A metric that needs no installable thing but cannot score anyway (``utmos``, which has no
predictor yet) is not a problem here: the run notes it as skipped, with its reason.
"""

from __future__ import annotations

from typing import Any

from audiotok.errors import AudiotokError
from audiotok.metrics.registry import get_metric
from audiotok.requirements import Check, Problem, Unmet, check, problems_of, raise_if_problems
from audiotok.tokenizers.registry import parse_spec, tokenizer_requirements
from pipelines.bench.config import BenchConfig


def bench_checks(config: BenchConfig) -> list[Check]:
    """Every tokenizer and metric of ``config`` with its problems (none: ready)."""
    checks: list[Check] = []
    for spec in config.tokenizers:
        needs = tokenizer_requirements(
            spec, weights=config.weights.get(spec), debug=config.debug and _has_weights(spec)
        )
        component = f"tokenizer {spec}"
        problems = check(component, needs, f"leave {spec} out of `--tokenizers`")
        checks.append(Check(component, problems))
    for name in config.metrics:
        component = f"metric {name}"
        metric_needs, note = _metric_requirements(name, config.metric_options.get(name, {}))
        problems = check(component, metric_needs, f"leave {name} out of `--metrics`")
        checks.append(Check(component, problems, note))
    return checks


def bench_problems(config: BenchConfig) -> list[Problem]:
    """Every unmet requirement of ``config``'s tokenizers and metrics (empty: ready)."""
    return problems_of(bench_checks(config))


def check_bench(config: BenchConfig) -> None:
    """Raise `ConfigurationError` (one line per problem) unless the whole run can go."""
    raise_if_problems("bench", bench_problems(config))


def _metric_requirements(name: str, options: dict[str, Any]) -> tuple[list[Any], str | None]:
    """The metric's requirements, and the reason it will be skipped although they are met."""
    try:
        metric = get_metric(name, **options)
    except (AudiotokError, TypeError) as exc:  # unknown name, or an option it does not take
        return [Unmet(str(exc), "")], None
    note = metric.known_skip()
    return metric.requirements(), None if note is None else f"will be skipped: {note}"


def _has_weights(spec: str) -> bool:
    try:
        return parse_spec(spec)[0].cls.needs_weights
    except AudiotokError:
        return False
