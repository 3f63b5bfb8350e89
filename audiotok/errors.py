"""Domain errors of audiotok.

Every error that reaches a user names the input it is about and the reason, so a batch job can
record it and go on with the next input.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


class AudiotokError(Exception):
    """Base class of every error audiotok raises on purpose."""


class AudioLoadError(AudiotokError):
    """An audio input could not be read.

    Attributes:
        path: the file (or a description of an in-memory input) that failed.
        reason: a short machine-readable reason, one of ``REASONS``.
        detail: human-readable detail, including what each backend said.
    """

    REASONS = (
        "not_found",
        "empty_file",
        "truncated_header",
        "not_audio",
        "unsupported_codec",
        "non_finite_samples",
        "zero_sample_rate",
        "too_short",
        "decode_failed",
    )

    def __init__(self, path: str | Path, reason: str, detail: str = "") -> None:
        if reason not in self.REASONS:
            raise ValueError(f"unknown AudioLoadError reason {reason!r}")
        self.path = str(path)
        self.reason = reason
        self.detail = detail
        message = f"{self.path}: {reason.replace('_', ' ')}"
        super().__init__(f"{message} ({detail})" if detail else message)


class UnknownTokenizerError(AudiotokError, KeyError):
    """A tokenizer spec string names no registered tokenizer."""

    def __init__(self, spec: str, known: Iterable[str]) -> None:
        self.spec = spec
        self.known = sorted(known)
        super().__init__(f"unknown tokenizer {spec!r}; known: {', '.join(self.known)}")

    def __str__(self) -> str:  # KeyError would otherwise quote the whole message
        return str(self.args[0])


class TokenizerSpecError(AudiotokError, ValueError):
    """A tokenizer spec names a known family with an option it does not accept."""


class TokenizerUnavailableError(AudiotokError, RuntimeError):
    """A tokenizer is registered but cannot run here (a missing binary or package)."""


class WeightsNotFoundError(AudiotokError, FileNotFoundError):
    """Pretrained weights are missing and could not be fetched.

    The message says which files are missing and how to supply them.
    """


class TokensMismatchError(AudiotokError, ValueError):
    """Tokens handed to a tokenizer were made by another one."""


class UnknownComponentError(AudiotokError, KeyError):
    """A component name (VAD, ASR backend, speaker encoder, ...) names nothing registered."""

    def __init__(self, kind: str, name: str, known: Iterable[str]) -> None:
        self.kind = kind
        self.name = name
        self.known = sorted(known)
        super().__init__(f"unknown {kind} {name!r}; known: {', '.join(self.known)}")

    def __str__(self) -> str:
        return str(self.args[0])


class ComponentOptionError(AudiotokError, ValueError):
    """A known component was given an option its config does not have."""


class BackendUnavailableError(AudiotokError, RuntimeError):
    """A registered component cannot run here: an optional package or its model file is missing.

    The message names the package and how to install it.
    """


class MetricError(AudiotokError, ValueError):
    """A metric cannot score an input: it is silent, too short, malformed, or the backend failed.

    A benchmark records it and goes on with the next input; no metric returns a made-up value.

    Attributes:
        metric: the name of the metric (``"pesq_wb"``, ``"si_sdr"``, ...).
        reason: a short human-readable reason, including what a backend package said.
    """

    def __init__(self, metric: str, reason: str) -> None:
        self.metric = metric
        self.reason = reason
        super().__init__(f"{metric}: {reason}")

    def __reduce__(self) -> tuple[type[MetricError], tuple[str, str]]:
        # the default would call cls(message) and fail: batch runners pickle errors (Ray)
        return type(self), (self.metric, self.reason)
