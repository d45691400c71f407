"""Summary figures over many orders: how long steps took, as count, mean and nearest-rank percentiles."""

from __future__ import annotations

import math
from collections.abc import Iterable

from domain.base import Frozen


def percentile(sorted_values: list[float], p: float) -> float:
    """The nearest-rank percentile of values sorted ascending: the smallest value with p% of all at or below it.

    Nearest rank (no interpolation) so every figure is one that was actually measured, and a hand count agrees.
    """
    if not sorted_values:
        raise ValueError("no values")
    if not 0 < p <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {p}")
    rank = math.ceil(p / 100 * len(sorted_values))
    return sorted_values[rank - 1]


class Durations(Frozen):
    """How long something took across orders, in seconds: count, mean and the 50th, 95th and 99th percentiles."""

    count: int
    mean: float | None
    p50: float | None
    p95: float | None
    p99: float | None

    @classmethod
    def of(cls, seconds: Iterable[float]) -> Durations:
        """The summary of some measured durations; every figure is None when there are none."""
        ordered = sorted(seconds)
        if not ordered:
            return cls(count=0, mean=None, p50=None, p95=None, p99=None)
        return cls(
            count=len(ordered),
            mean=sum(ordered) / len(ordered),
            p50=percentile(ordered, 50),
            p95=percentile(ordered, 95),
            p99=percentile(ordered, 99),
        )
