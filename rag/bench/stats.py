"""Statistics shared by `rag eval` (report.json) and `rag bench`: one p95 means one thing."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def percentile_or_zero(values: Sequence[float], q: float) -> float:
    """`percentile`, but 0.0 for no values: a figure to divide by or to print as a number."""
    return percentile(values, q) or 0.0
