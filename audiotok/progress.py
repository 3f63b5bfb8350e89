"""Progress bars (tqdm) that print their last line once.

tqdm draws the bar on the update that completes it and again in ``close()``. On a terminal the
second drawing overwrites the first; in a log or a pipe, where a carriage return erases
nothing, the last line appears twice. `advance` lets the completing step wait for ``close()``.
"""

from __future__ import annotations

from typing import Any


def advance(bar: Any, n: int = 1) -> None:
    """``bar.update(n)``, except that the step reaching ``bar.total`` is only counted: the
    bar's ``close()`` draws it."""
    if bar.total is not None and bar.n + n >= bar.total:
        bar.n += n
    else:
        bar.update(n)
