"""Long inputs in overlapping windows, and length-bucketed batches of windows.

Merge rule (exact count): an input of ``T`` mel frames gets exactly the tokens one pass over
it would give, ``ceil(T / S)`` with ``S`` = mel frames per token (2 at 50 Hz, 4 at 25 Hz);
52.4 s = 5240 frames -> 1310 tokens at 25 Hz, 2620 at 50 Hz.

- Windows are ``W`` frames (30 s) and start every ``W - O`` frames (O = 4 s overlap), at
  multiples of ``S``, so a window's token ``j`` is global token ``start / S + j``.
- The last window is moved back to end exactly at ``T`` (start rounded up to a multiple of
  ``S``), so it is never a sliver and the last token is computed once, with context. Its
  overlap with the previous window is then at least ``O``.
- Where two windows overlap, the cut is at the middle of their common tokens: each token is
  taken from exactly one window, the one in which it is further from an edge.

The reference instead steps by 26 s to the end and drops a fixed 2 s from each inner edge;
a short final window then loses tokens (52.4 s gives 1260 tokens instead of 1310).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Window:
    """One encoder pass: mel frames ``[start, start + length)`` of input ``item``.

    ``keep_from``/``keep_to``: the window-local token range that goes to the output.
    """

    item: int
    start: int
    length: int
    keep_from: int
    keep_to: int


def plan_windows(
    item: int,
    frames: int,
    window: int,
    overlap: int,
    stride: int,
    num_tokens: Callable[[int], int],
) -> list[Window]:
    """Windows covering ``frames`` mel frames of input ``item`` (one if it fits in ``window``).

    ``stride``: mel frames per token; ``num_tokens(n)``: tokens of an ``n``-frame pass.
    """
    if frames <= window:
        return [Window(item, 0, frames, 0, num_tokens(frames))]
    if window % stride or overlap % stride or not 0 <= overlap < window:
        raise ValueError(f"window {window} / overlap {overlap} must be multiples of {stride}")
    hop = window - overlap
    starts = []
    start = 0
    while start + window < frames:
        starts.append(start)
        start += hop
    last = -(-(frames - window) // stride) * stride  # round up: the window stays <= W
    starts.append(last)
    spans = []  # (first token, end token) of each window, global
    for begin in starts:
        length = min(window, frames - begin)
        spans.append((begin // stride, begin // stride + num_tokens(length)))
    cuts = [0]
    for (_, end_prev), (begin_next, _) in itertools.pairwise(spans):
        cuts.append((begin_next + end_prev) // 2)  # middle of the shared tokens
    cuts.append(spans[-1][1])
    windows = []
    for i, begin in enumerate(starts):
        first = spans[i][0]
        windows.append(
            Window(item, begin, min(window, frames - begin), cuts[i] - first, cuts[i + 1] - first)
        )
    return windows


def bucket(windows: Sequence[Window], max_frames: int) -> list[list[Window]]:
    """Batches of windows, longest first, each with ``len(batch) * longest <= max_frames``
    (a single window longer than that still gets a batch of its own).
    """
    order = sorted(windows, key=lambda w: (-w.length, w.item, w.start))
    batches: list[list[Window]] = []
    for win in order:
        if batches and (len(batches[-1]) + 1) * batches[-1][0].length <= max_frames:
            batches[-1].append(win)
        else:
            batches.append([win])
    return batches


def merge(windows: Sequence[Window], codes: Sequence[torch.Tensor]) -> torch.Tensor:
    """Concatenate each window's kept tokens (windows of one item, in time order)."""
    parts = [c[w.keep_from : w.keep_to] for w, c in zip(windows, codes, strict=True)]
    if not parts:
        return torch.zeros(0, dtype=torch.long)
    return torch.cat(parts)
