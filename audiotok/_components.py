"""Small registries for pluggable components, and lazy access to optional packages.

Each extension point (voice activity detection, ASR, speaker encoders) owns one
`ComponentRegistry`; its ``get_*`` function builds a component from a name and keyword
options, which fill the component's config dataclass.  Optional packages are imported only
when a component is built, and a missing one is a `BackendUnavailableError` with the pip
command that installs it; nothing falls back silently to something else.  Before building,
``registry.requirements(name, **options)`` lists what a component needs
(`audiotok.requirements`), so a job can check everything before it starts.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, Generic, TypeVar

from audiotok.errors import BackendUnavailableError, ComponentOptionError, UnknownComponentError
from audiotok.requirements import PackageData, Problem, PythonPackage, Requirement

T = TypeVar("T")


class ComponentRegistry(Generic[T]):
    """Names -> (component class, config dataclass) for one extension point.

    Args:
        kind: what the components are, for error messages ("voice activity detector").
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, tuple[Callable[[Any], T], type]] = {}

    def register(self, name: str, config_cls: type) -> Callable[[Callable[[Any], T]], Any]:
        """Class decorator: ``@REGISTRY.register("silero", SileroVADConfig)``.

        The decorated class is built as ``cls(config_cls(**options))``.
        """

        def decorate(cls: Callable[[Any], T]) -> Any:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = (cls, config_cls)
            return cls

        return decorate

    def names(self) -> list[str]:
        return sorted(self._entries)

    def create(self, name: str, **options: Any) -> T:
        """Build the component ``name`` with ``options`` as its config fields.

        Raises:
            UnknownComponentError: ``name`` is not registered (the message lists known names).
            ComponentOptionError: an option is not a field of the component's config.
        """
        cls, config = self._config(name, options)
        return cls(config)

    def requirements(self, name: str, **options: Any) -> list[Requirement]:
        """What building ``create(name, **options)`` needs, without building it: the
        component class's ``requirements(config)`` classmethod (none if it has no such method).

        Raises:
            UnknownComponentError, ComponentOptionError: as `create`.
        """
        cls, config = self._config(name, options)
        declared = getattr(cls, "requirements", None)
        return list(declared(config)) if declared is not None else []

    def _config(self, name: str, options: dict[str, Any]) -> tuple[Callable[[Any], T], Any]:
        if name not in self._entries:
            raise UnknownComponentError(self.kind, name, self._entries)
        cls, config_cls = self._entries[name]
        fields = {f.name for f in dataclasses.fields(config_cls)}
        unknown = sorted(set(options) - fields)
        if unknown:
            raise ComponentOptionError(
                f"{self.kind} {name!r} has no option {', '.join(unknown)}; "
                f"options: {', '.join(sorted(fields))}"
            )
        return cls, config_cls(**options)


def require_module(
    module: str, *, what: str, package: str, install: str | None = None
) -> ModuleType:
    """Import an optional package or raise `BackendUnavailableError` with an install hint.

    Args:
        module: the import name (``faster_whisper``).
        what: the component that needs it, for the message.
        package: the pip distribution to install (``faster-whisper``).
        install: the install command, when it is not ``pip install <package>``.
    """
    requirement = PythonPackage(module, package, install)
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        reason = requirement.missing() or f"cannot import {module} ({exc})"
        raise BackendUnavailableError(Problem(what, reason, requirement.fix).line()) from exc


def package_file(
    module: str, relative: str, *, what: str, package: str, install: str | None = None
) -> Path:
    """A data file inside an installed package, found without importing the package (some
    have side effects or unmet dependencies on import), checked to exist.

    Raises:
        BackendUnavailableError: the package or the file is missing (the message says how to
            install it; see `audiotok.requirements.PackageData`).
    """
    requirement = PackageData(module, relative, package, install)
    reason = requirement.missing()
    if reason is not None:
        raise BackendUnavailableError(Problem(what, reason, requirement.fix).line())
    path = requirement.path()
    assert path is not None
    return path


def onnx_session(path: str | Path, *, what: str, num_threads: int = 1) -> Any:
    """A CPU onnxruntime session on ``path`` with ``num_threads`` intra-op threads.

    onnxruntime keeps its own thread pools, so building or running it never changes
    torch's thread count.
    """
    ort = require_module("onnxruntime", what=what, package="onnxruntime")
    options = ort.SessionOptions()
    options.intra_op_num_threads = num_threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
