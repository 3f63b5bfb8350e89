"""Long inputs in overlapping windows, and length-bucketed batches of windows.

Merge rule (exact count): an input of ``T`` mel frames gets exactly the tokens one pass over
it would give, ``ceil(T / S)`` with ``S`` = mel frames per token (2 at 50 Hz, 4 at 25 Hz);
52.4 s = 5240 frames -> 1310 tokens at 25 Hz, 2620 at 50 Hz.

- An input longer than ``W`` frames (30 s) is covered by the fewest windows of at most ``W``
  frames that overlap by about ``O`` (4 s), all of one length and spread evenly from the
  first frame to the last; starts are multiples of ``S``, so a window's token ``j`` is global
  token ``start / S + j``. No window is a padded sliver.
- Where two windows overlap, the cut is at the middle of their common tokens: each token is
  taken from exactly one window, the one in which it is further from an edge.

The reference instead steps by 26 s to the end, pads every window to 30 s, and drops a fixed
2 s from each inner edge; a short final window then loses tokens (52.4 s gives 1260 tokens
instead of 1310).
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
    starts, length = _even_starts(frames, window, overlap, stride)
    spans = []  # (first token, end token) of each window, global
    for begin in starts:
        spans.append((begin // stride, begin // stride + num_tokens(min(length, frames - begin))))
    cuts = [0]
    for (_, end_prev), (begin_next, _) in itertools.pairwise(spans):
        cuts.append((begin_next + end_prev) // 2)  # middle of the shared tokens
    cuts.append(spans[-1][1])
    windows = []
    for i, begin in enumerate(starts):
        first = spans[i][0]
        windows.append(
            Window(item, begin, min(length, frames - begin), cuts[i] - first, cuts[i + 1] - first)
        )
    return windows


def _even_starts(frames: int, window: int, overlap: int, stride: int) -> tuple[list[int], int]:
    """Starts of the fewest windows of at most ``window`` frames overlapping by about
    ``overlap``, spread evenly, and their common length (a multiple of ``stride``).

    Even spreading keeps windows as short as the overlap allows: 60 s becomes three windows
    of about 22.7 s (6,800 frames of work) rather than 30 + 30 + a padded sliver.
    """
    count = 1 + -(-(frames - window) // (window - overlap))
    # n windows of length L overlap by >= O when n * L >= frames + (n - 1) * O
    length = -(-(frames + (count - 1) * overlap) // count)
    length = min(window, -(-length // stride) * stride)
    step = (frames - length) / (count - 1)
    starts = [int(k * step) // stride * stride for k in range(count - 1)]
    starts.append(-(-(frames - length) // stride) * stride)  # the last one ends at ``frames``
    return starts, length


def bucket(
    windows: Sequence[Window], max_frames: int, min_fill: float = 0.75
) -> list[list[Window]]:
    """Batches of windows, longest first, each with ``len(batch) * longest <= max_frames``
    and no window shorter than ``min_fill * longest`` (so padding wastes at most a quarter
    of a batch); a single window longer than ``max_frames`` still gets a batch of its own.
    """
    order = sorted(windows, key=lambda w: (-w.length, w.item, w.start))
    batches: list[list[Window]] = []
    for win in order:
        if batches and _fits(batches[-1], win, max_frames, min_fill):
            batches[-1].append(win)
        else:
            batches.append([win])
    return batches


def _fits(batch: list[Window], win: Window, max_frames: int, min_fill: float) -> bool:
    longest = batch[0].length
    return (len(batch) + 1) * longest <= max_frames and win.length >= min_fill * longest


def merge(windows: Sequence[Window], codes: Sequence[torch.Tensor]) -> torch.Tensor:
    """Concatenate each window's kept tokens (windows of one item, in time order)."""
    parts = [c[w.keep_from : w.keep_to] for w, c in zip(windows, codes, strict=True)]
    if not parts:
        return torch.zeros(0, dtype=torch.long)
    return torch.cat(parts)
