"""Second-order IIR sections in numpy, vectorised: ``y = biquad(x, b, a)``.

Equal (to float64 rounding) to the direct recursion ``a0 y[n] = b0 x[n] + b1 x[n-1] + b2 x[n-2]
- a1 y[n-1] - a2 y[n-2]`` from a zero state, without a per-sample Python loop and without
importing ``scipy.signal`` (which takes over a second to import: every Ray worker that
normalises loudness would pay it).

How: the FIR part is three shifted products.  The all-pole part is cut into blocks of
``block`` samples; inside a block the output is the input convolved with the all-pole impulse
response (one matrix product for all blocks) plus the response to the two outputs before the
block.  Those block-boundary states follow an affine recurrence ``s[k+1] = M s[k] + c[k]``,
solved for every block at once by a doubling scan (log2(blocks) vectorised steps).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Coefficients = Sequence[float] | np.ndarray


def biquad(x: np.ndarray, b: Coefficients, a: Coefficients, block: int = 64) -> np.ndarray:
    """Filter ``x`` ``[..., n]`` along its last axis with one stable second-order section.

    Args:
        b: numerator ``[b0, b1, b2]``.
        a: denominator ``[a0, a1, a2]`` (``a0 != 0``; poles inside the unit circle).

    Returns:
        float64 ``[..., n]``.
    """
    b0, b1, b2, a1, a2 = _normalised(b, a)
    x = np.asarray(x, dtype=np.float64)
    v = b0 * x
    v[..., 1:] += b1 * x[..., :-1]
    v[..., 2:] += b2 * x[..., :-2]
    if v.size == 0:
        return v
    return _all_pole(v.reshape(-1, v.shape[-1]), a1, a2, block).reshape(v.shape)


def _normalised(b: Coefficients, a: Coefficients) -> tuple[float, ...]:
    if len(b) != 3 or len(a) != 3 or a[0] == 0:
        raise ValueError(f"need b and a of length 3 with a[0] != 0, got b={b}, a={a}")
    a0 = float(a[0])
    a1, a2 = a[1] / a0, a[2] / a0
    # Poles inside the unit circle: |a2| < 1 and |a1| < 1 + a2 (the stability triangle).
    if not (abs(a2) < 1 and abs(a1) < 1 + a2):
        raise ValueError(f"unstable section: a={a}")
    return b[0] / a0, b[1] / a0, b[2] / a0, a1, a2


def _all_pole(v: np.ndarray, a1: float, a2: float, block: int) -> np.ndarray:
    """``y[n] = v[n] - a1 y[n-1] - a2 y[n-2]`` from rest, for each row of ``v`` ``[rows, n]``."""
    rows, n = v.shape
    blocks = -(-n // block)
    padded = np.zeros((rows, blocks * block))
    padded[:, :n] = v
    impulse = _response(a1, a2, block, 1.0, 0.0, 0.0)
    after_1 = _response(a1, a2, block, 0.0, 1.0, 0.0)  # zero input, y[-1] = 1
    after_2 = _response(a1, a2, block, 0.0, 0.0, 1.0)  # zero input, y[-2] = 1
    index = np.arange(block)
    lag = index[:, None] - index[None, :]
    toeplitz = np.where(lag >= 0, impulse[np.clip(lag, 0, None)], 0.0)  # [block, block]
    forced = padded.reshape(rows, blocks, block) @ toeplitz.T  # [rows, blocks, block]
    # State entering block k: (y[-1], y[-2]) relative to the block.
    step = np.array([[after_1[-1], after_2[-1]], [after_1[-2], after_2[-2]]])
    states = _affine_scan(step, forced[..., [-1, -2]])  # states leaving blocks 0..K-1
    entering = np.zeros_like(states)
    entering[:, 1:] = states[:, :-1]
    out = forced + entering[..., :1] * after_1 + entering[..., 1:] * after_2
    return out.reshape(rows, -1)[:, :n]


def _response(a1: float, a2: float, length: int, x0: float, y1: float, y2: float) -> np.ndarray:
    """``length`` outputs of the all-pole recursion for the input ``[x0, 0, 0, ...]`` with
    ``y[-1] = y1`` and ``y[-2] = y2``."""
    out = np.empty(length)
    prev1, prev2 = y1, y2
    for i in range(length):
        value = (x0 if i == 0 else 0.0) - a1 * prev1 - a2 * prev2
        out[i] = value
        prev1, prev2 = value, prev1
    return out


def _affine_scan(step: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """``u[k] = step @ u[k-1] + offsets[k]`` with ``u[-1] = 0``, for all k along the second
    to last axis of ``offsets`` ``[rows, K, 2]``.

    Doubling: after the pass with stride ``d``, ``u[k]`` sums the last ``2d`` offsets, each
    carried by its power of ``step``.
    """
    u = offsets.copy()
    power = step
    stride = 1
    while stride < u.shape[-2]:
        u[..., stride:, :] = u[..., stride:, :] + u[..., :-stride, :] @ power.T
        power = power @ power
        stride *= 2
    return u
