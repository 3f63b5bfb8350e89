"""``results.jsonl``: one JSON line per (utterance, tokenizer), appended as pairs finish.

Every line is flushed and fsynced as it is written, so after a crash or ``kill -9`` a rerun
finds every finished pair and scores only the rest; a torn last line is ignored. At the end of
a run the file is rewritten (atomically) in a fixed order, so equal runs give equal files up
to the timing fields.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

from audiotok.atomic import atomic_write_text

Row = dict[str, Any]
RESULTS_NAME = "results.jsonl"


def read_results(path: str | Path) -> list[Row]:
    """Every complete row of a results file (none if it does not exist)."""
    path = Path(path)
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line torn by a crash: that pair is scored again
        if isinstance(row, dict) and "utterance" in row and "tokenizer" in row:
            rows.append(row)
    return rows


class ResultsWriter:
    """Appends rows to ``results.jsonl`` durably."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._handle: Any = None

    def __enter__(self) -> ResultsWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _drop_torn_tail(self.path)
        self._handle = self.path.open("a", encoding="utf-8")
        return self

    def write(self, rows: Iterable[Row]) -> None:
        for row in rows:
            self._handle.write(_line(row))
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._handle.close()


def rewrite_results(path: str | Path, rows: list[Row]) -> None:
    """Replace the file with ``rows`` atomically."""
    atomic_write_text(path, "".join(_line(row) for row in rows))


def _line(row: Row) -> str:
    return json.dumps(row, sort_keys=True, allow_nan=False) + "\n"


def _drop_torn_tail(path: Path) -> None:
    """Cut a last line without its newline (a write a crash interrupted)."""
    if not path.is_file() or path.stat().st_size == 0:
        return
    data = path.read_bytes()
    if data.endswith(b"\n"):
        return
    keep = data.rfind(b"\n") + 1
    with path.open("r+b") as handle:
        handle.truncate(keep)
