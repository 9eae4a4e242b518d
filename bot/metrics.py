"""The one percentile of citebot's latency figures (evaluations, /stats, benchmarks, tests)."""

from __future__ import annotations

import math
from collections.abc import Iterable


def percentile(values: Iterable[float], fraction: float) -> float:
    """The ``fraction`` (0..1) quantile of ``values``, interpolated; 0.0 for none."""
    # Linear interpolation between the closest ranks (numpy's and pandas' default, and
    # statistics.quantiles' "inclusive" method): it is defined for any fraction, 1.0 being the
    # maximum, and moves smoothly with the data, where the nearest rank jumps between values
    # and says the same p95 for every sample under 20.
    ordered = sorted(values)
    if not ordered:
        return 0.0
    position = min(max(fraction, 0.0), 1.0) * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
