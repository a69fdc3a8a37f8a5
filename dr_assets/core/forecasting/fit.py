"""A robust straight line through a short series: Theil-Sen (the median of the pairwise
slopes), so one slow drill or one giant dump moves the trend no more than any other point.
Series longer than MAX_BINS are first reduced to that many time bins (the median of each),
which keeps a fit a few hundred slope computations whatever the history's length."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

MAX_BINS = 32
# Fewer points than this say nothing about a trend (two points are any line at all).
MIN_POINTS = 3


@dataclass(frozen=True)
class Fit:
    """y = intercept + slope * x, fitted to `points` (x, y) pairs."""

    slope: float
    intercept: float
    points: int

    def at(self, x: float) -> float:
        return self.intercept + self.slope * x


def binned(points: Sequence[tuple[float, float]], bins: int = MAX_BINS
           ) -> list[tuple[float, float]]:
    """At most `bins` points: the series cut into equal spans of x, each the median of its
    x and its y (empty spans dropped). A series already that short is returned sorted."""
    ordered = sorted(points)
    if len(ordered) <= bins:
        return ordered
    lo, hi = ordered[0][0], ordered[-1][0]
    width = (hi - lo) / bins or 1.0
    spans: list[list[tuple[float, float]]] = [[] for _ in range(bins)]
    for x, y in ordered:
        spans[min(bins - 1, int((x - lo) / width))].append((x, y))
    return [(statistics.median(x for x, _ in s), statistics.median(y for _, y in s))
            for s in spans if s]


def theil_sen(points: Sequence[tuple[float, float]]) -> Fit | None:
    """The Theil-Sen line of the (binned) points, or None when fewer than MIN_POINTS
    distinct x values leave no trend to speak of."""
    pts = binned(points)
    if len({x for x, _ in pts}) < MIN_POINTS:
        return None
    slopes = [(y2 - y1) / (x2 - x1)
              for i, (x1, y1) in enumerate(pts) for x2, y2 in pts[i + 1:] if x2 != x1]
    slope = statistics.median(slopes)
    intercept = statistics.median(y - slope * x for x, y in pts)
    return Fit(slope=slope, intercept=intercept, points=len(pts))
