"""Finding audio files under directories, globs and plain paths."""

from __future__ import annotations

import glob
from collections.abc import Iterable, Iterator
from pathlib import Path

from audiotok.audio.load import SUPPORTED_EXTENSIONS


def find_audio_files(
    inputs: Iterable[str | Path], extensions: frozenset[str] = SUPPORTED_EXTENSIONS
) -> Iterator[tuple[Path, Path]]:
    """Yield ``(file, root)`` for every audio file named by ``inputs``, sorted per input.

    A directory is searched recursively for files with ``extensions``; a glob pattern expands;
    a plain path is yielded as it is, whatever its suffix, so that a bad file is reported by the
    loader instead of vanishing. ``root`` is the directory outputs are made relative to.
    """
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            for found in sorted(p for p in path.rglob("*") if p.suffix.lower() in extensions):
                if found.is_file():
                    yield found, path
        elif any(ch in str(item) for ch in "*?["):
            for match in sorted(glob.glob(str(item), recursive=True)):
                yield Path(match), Path(match).parent
        else:
            yield path, path.parent
