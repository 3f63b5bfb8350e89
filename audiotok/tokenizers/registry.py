"""Tokenizer registry: spec strings to tokenizer classes.

A spec is ``family``, ``family@option`` or ``family:path``:
``encodec-24khz@6kbps``, ``dac-16khz``, ``mimi@8``, ``opus@12kbps``, ``codec2@3200``,
``kmeans:/path/to/centroids``. Each family is a subclass of `AudioTokenizer` registered with
`register_tokenizer`, which names its config dataclass and the options it lists as presets.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from audiotok.errors import TokenizerSpecError, UnknownTokenizerError
from audiotok.requirements import LocalFile, Requirement, Unmet, looks_like_path
from audiotok.tokenizers.base import AudioTokenizer, TokenizerConfig
from audiotok.weights import is_cached


@dataclass(frozen=True)
class TokenizerFamily:
    """One registered tokenizer family.

    Attributes:
        name: the part of the spec before ``@`` or ``:``.
        cls: the tokenizer class.
        parse_option: turns the option string (None for the bare name) into a config.
        presets: options listed by `list_tokenizers` (None stands for the bare name).
    """

    name: str
    cls: type[AudioTokenizer]
    parse_option: Callable[[str | None], TokenizerConfig]
    presets: tuple[str | None, ...]

    def spec(self, option: str | None) -> str:
        return self.name if option is None else f"{self.name}{_separator(self.name)}{option}"


@dataclass(frozen=True)
class TokenizerInfo:
    """What `list_tokenizers` reports for one spec."""

    spec: str
    sample_rate: int
    frame_rate: float
    nominal_bitrate: float
    num_codebooks: int
    codebook_size: int
    needs_weights: bool
    can_decode: bool
    unavailable_reason: str | None
    default_weights: str | None = None
    weights_cached: bool = False

    @property
    def available(self) -> bool:
        return self.unavailable_reason is None


_FAMILIES: dict[str, TokenizerFamily] = {}
_PATH_FAMILIES = {"kmeans"}  # families whose option is a path, written ``name:path``

T = TypeVar("T", bound=type[AudioTokenizer])


def _separator(name: str) -> str:
    return ":" if name in _PATH_FAMILIES else "@"


def register_tokenizer(
    name: str,
    *,
    parse_option: Callable[[str | None], TokenizerConfig],
    presets: tuple[str | None, ...] = (None,),
) -> Callable[[T], T]:
    """Class decorator registering a tokenizer family under ``name``."""

    def decorator(cls: T) -> T:
        if name in _FAMILIES:
            raise ValueError(f"tokenizer family {name!r} registered twice")
        _FAMILIES[name] = TokenizerFamily(name, cls, parse_option, presets)
        return cls

    return decorator


def parse_spec(spec: str) -> tuple[TokenizerFamily, str | None]:
    """Split a spec into its family and option; unknown families list the known specs."""
    _ensure_builtin_families()
    spec = spec.strip()
    for separator in (":", "@"):
        name, found, option = spec.partition(separator)
        if found and name in _FAMILIES and _separator(name) == separator:
            return _FAMILIES[name], option
    if spec in _FAMILIES:
        return _FAMILIES[spec], None
    raise UnknownTokenizerError(spec, known_specs())


def known_specs() -> list[str]:
    _ensure_builtin_families()
    return [family.spec(option) for family in _FAMILIES.values() for option in family.presets]


def resolve_config(spec: str) -> tuple[TokenizerFamily, TokenizerConfig]:
    family, option = parse_spec(spec)
    try:
        config = family.parse_option(option)
    except ValueError as exc:
        raise TokenizerSpecError(f"{spec!r}: {exc}") from exc
    return family, config


def get_tokenizer(
    spec: str,
    *,
    weights: str | Path | None = None,
    device: str | None = None,
    debug: bool = False,
) -> AudioTokenizer:
    """Build the tokenizer a spec names.

    Args:
        spec: e.g. ``opus@12kbps`` or ``encodec-24khz@6kbps``.
        weights: a Hugging Face id or a local directory, for tokenizers that need weights
            (each has a default id).
        device: where to put model weights (``cpu``, ``cuda``, ``cuda:1``).
        debug: build a tiny randomly initialised model of the same family instead of loading
            weights (tests and smoke runs only; the codes mean nothing).
    """
    family, config = resolve_config(spec)
    canonical = family.spec(parse_spec(spec)[1])
    tokenizer = family.cls.build(config, spec=canonical, weights=weights, debug=debug)
    return tokenizer.to(device) if device is not None else tokenizer


def tokenizer_requirements(
    spec: str, *, weights: str | Path | None = None, debug: bool = False
) -> list[Requirement]:
    """What ``get_tokenizer(spec, weights=..., debug=...)`` needs, checked without building:
    a spec that parses, the family's `AudioTokenizer.availability` (packages, programs), and
    weights that exist when they are a local path. Default Hub weights that are not cached
    count as missing only when the Hub is off (``HF_HUB_OFFLINE``); otherwise they are
    fetched when the tokenizer is built."""
    try:
        family, config = resolve_config(spec)
    except (UnknownTokenizerError, TokenizerSpecError) as exc:
        return [Unmet(str(exc), "see `audiotok list-tokenizers`")]
    needs: list[Requirement] = []
    reason = family.cls.availability()
    if reason is not None:
        needs.append(Unmet(reason, ""))
    if not family.cls.needs_weights or debug:
        return needs
    if weights is not None:
        if looks_like_path(str(weights)):
            how = "give --weights a folder with config.json and *.safetensors, or a Hub id"
            needs.append(LocalFile(str(weights), "the weights folder", how, directory=True))
        return needs
    default = family.cls.default_weights(config)
    if default is not None and _hub_offline() and not is_cached(default):
        needs.append(
            Unmet(
                f"needs the weights {default}, which are not in the local Hugging Face cache "
                "and the Hub is off (HF_HUB_OFFLINE)",
                "give --weights DIR with a local copy",
            )
        )
    return needs


def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def list_tokenizers() -> list[TokenizerInfo]:
    """Every preset spec, with its figures and whether it can run here now."""
    _ensure_builtin_families()
    infos = []
    for family in _FAMILIES.values():
        reason = family.cls.availability()
        for option in family.presets:
            config = family.parse_option(option)
            infos.append(
                TokenizerInfo(
                    spec=family.spec(option),
                    sample_rate=config.sample_rate,
                    frame_rate=config.frame_rate,
                    nominal_bitrate=config.nominal_bitrate,
                    num_codebooks=len(config.codebook_sizes),
                    codebook_size=max(config.codebook_sizes),
                    needs_weights=family.cls.needs_weights,
                    can_decode=family.cls.can_decode,
                    unavailable_reason=reason,
                    default_weights=family.cls.default_weights(config),
                    weights_cached=_cached(family.cls.default_weights(config)),
                )
            )
    return infos


def _cached(hub_id: str | None) -> bool:
    return hub_id is not None and is_cached(hub_id)


def _ensure_builtin_families() -> None:
    """Import the built-in implementations so their decorators run (once, lazily)."""
    import audiotok.tokenizers.builtin  # noqa: F401
