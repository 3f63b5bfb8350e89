"""Open a file with the first backend that can decode it, or explain why none could."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audiotok.audio import _pyav_backend, _soundfile_backend
from audiotok.audio._sniff import HeaderFacts, sniff
from audiotok.audio._source import BackendFailure, Source
from audiotok.errors import AudioLoadError

# libsndfile first: exact lengths and sample-accurate seeks.  FFmpeg for everything else.
_OPENERS: tuple[Callable[[str], Source], ...] = (
    _soundfile_backend.open_source,
    _pyav_backend.open_source,
)
# When backends disagree about why they failed, the more specific reason wins.
_REASON_PRIORITY = ("zero_sample_rate", "unsupported_codec", "not_audio", "decode_failed")


def checked_path(path: str | os.PathLike[str]) -> str:
    """``path`` as a string; raises ``AudioLoadError`` if it is missing or empty."""
    name = os.fspath(path)
    if not os.path.exists(name):
        raise AudioLoadError(name, "not_found", "no such file")
    if not os.path.isfile(name):
        raise AudioLoadError(name, "not_found", "not a regular file")
    if os.path.getsize(name) == 0:
        raise AudioLoadError(name, "empty_file", "0 bytes")
    return name


def open_info_source(path: str) -> Source:
    """Open ``path`` without decoding anything (for probing)."""
    failures: list[BackendFailure] = []
    for opener in _OPENERS:
        try:
            return opener(path)
        except BackendFailure as failure:
            failures.append(failure)
    raise explain_failure(path, failures)


@dataclass
class OpenedBlocks:
    """A source, the source frame range ``[start, stop)`` asked for, and its blocks."""

    source: Source
    start: int
    stop: int | None
    blocks: Iterator[np.ndarray]


def open_blocks(
    path: str, offset: float, duration: float | None, block_seconds: float
) -> OpenedBlocks:
    """Open ``path`` and start decoding from ``offset`` for ``duration`` seconds.

    The first block is decoded before returning, so a backend that opens a file but cannot
    decode it (libsndfile on some damaged files) still hands over to the next backend.
    """
    failures: list[BackendFailure] = []
    for opener in _OPENERS:
        try:
            source = opener(path)
        except BackendFailure as failure:
            failures.append(failure)
            continue
        rate = source.info.sample_rate
        start = round(offset * rate)
        stop = None if duration is None else start + round(duration * rate)
        try:
            block_frames = max(1, round(block_seconds * rate))
            blocks = source.blocks(start, stop, block_frames)
            first = next(blocks, None)
        except MemoryError:
            source.close()
            raise
        except Exception as exc:
            source.close()
            failures.append(_as_failure(source, exc))
            continue
        if first is None and source.cut_short is not None:
            source.close()
            failures.append(BackendFailure(source.info.backend, source.cut_short))
            continue
        if first is not None:
            blocks = _prepend(first, blocks)
        return OpenedBlocks(source, start, stop, blocks)
    raise explain_failure(path, failures)


def _prepend(first: np.ndarray, rest: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    # Unlike itertools.chain([first], rest), this lets go of the first block once consumed.
    yield first
    del first
    yield from rest


def _as_failure(source: Source, exc: Exception) -> BackendFailure:
    if isinstance(exc, BackendFailure):
        return exc
    failure = BackendFailure(source.info.backend, str(exc) or type(exc).__name__)
    failure.__cause__ = exc
    return failure


def explain_failure(path: str, failures: list[BackendFailure]) -> AudioLoadError:
    """One ``AudioLoadError`` naming the most specific reason, with every backend's message.

    The ``__cause__`` is the last library exception among the failures.
    """
    facts = _sniff_quietly(path)
    if facts is None:
        return AudioLoadError(path, "not_found", "file vanished while being read")
    reason = facts.problem or _backend_reason(failures)
    if reason is None:
        # No backend recognised it and it has no known audio magic: not audio at all.
        reason = "not_audio" if facts.container is None else "decode_failed"
    details = [facts.detail] if facts.detail else []
    details += [str(failure) for failure in failures]
    error = AudioLoadError(path, reason, "; ".join(details))
    causes = [failure.__cause__ for failure in failures if failure.__cause__ is not None]
    if causes or failures:
        error.__cause__ = causes[-1] if causes else failures[-1]
    return error


def _backend_reason(failures: list[BackendFailure]) -> str | None:
    reasons = {failure.reason for failure in failures}
    return next((reason for reason in _REASON_PRIORITY if reason in reasons), None)


def _sniff_quietly(path: str) -> HeaderFacts | None:
    try:
        return sniff(path)
    except FileNotFoundError:
        return None
    except OSError:
        return HeaderFacts(container=None)


def header_facts(path: str | Path) -> HeaderFacts:
    """The header facts of a file that opened (for the cut-short WAV check)."""
    return _sniff_quietly(str(path)) or HeaderFacts(container=None)
