"""Engines by name: ``@register_tts_engine("espeak-ng")`` and ``get_tts_engine(name, **kw)``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from audiotok.tts_engines.base import TTSEngine, UnknownTTSEngineError

_E = TypeVar("_E", bound=type[TTSEngine])
_ENGINES: dict[str, Callable[..., TTSEngine]] = {}


def register_tts_engine(name: str) -> Callable[[_E], _E]:
    """Class decorator: make an engine available as ``get_tts_engine(name, **kwargs)``."""

    def decorate(cls: _E) -> _E:
        _ENGINES[name] = cls
        return cls

    return decorate


def list_tts_engines() -> list[str]:
    return sorted(_ENGINES)


def get_tts_engine(name: str | TTSEngine = "espeak-ng", **kwargs: Any) -> TTSEngine:
    """An engine by registered name (``"espeak-ng"``, ``"piper"``); an instance is returned as is.

    Raises:
        UnknownTTSEngineError: ``name`` is not registered (the message lists the known names).
    """
    if isinstance(name, TTSEngine):
        return name
    try:
        factory = _ENGINES[name]
    except KeyError:
        raise UnknownTTSEngineError(
            f"unknown TTS engine {name!r}; known: {', '.join(list_tts_engines())}"
        ) from None
    return factory(**kwargs)
