"""Small statistics for benchmark summaries: the mean and its 95 % confidence interval."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats


def mean_ci95(values: Sequence[float]) -> tuple[float, float, int]:
    """Mean, half-width of its 95 % Student-t confidence interval, and the count used.

    NaN values are dropped first (a metric that failed on one utterance must not poison the
    mean). A single value has a half-width of 0.0: there is no spread to estimate from.
    Raises ``ValueError`` when no values remain.
    """
    array = np.asarray(values, dtype=np.float64)
    array = array[~np.isnan(array)]
    count = int(array.size)
    if count == 0:
        raise ValueError("mean_ci95 needs at least one value that is not NaN")
    mean = float(array.mean())
    if count == 1:
        return mean, 0.0, 1
    standard_error = float(array.std(ddof=1)) / math.sqrt(count)
    half_width = float(stats.t.ppf(0.975, count - 1)) * standard_error
    return mean, half_width, count
