"""A forecast line: what a fitted trend says now and ahead, the shape the charts draw."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime


@dataclass(frozen=True)
class ForecastLine:
    """A straight line fitted to `points` observations of one series (restore seconds,
    stored bytes, a slot's retained bytes), drawn from `start` (the first observation) to
    `end` (now plus the forecast horizon). `now_value` is the line's value today,
    `slope_per_day` its change per day; `limit` is the value it must stay under (the RTO
    in seconds, the quota or the disk in bytes), `crosses_on` the day it reaches it (None:
    not within the horizon, or no limit)."""

    metric: str
    start: datetime
    start_value: float
    end: datetime
    end_value: float
    now_value: float
    slope_per_day: float
    points: int
    limit: float | None
    crosses_on: date | None

    def from_moment(self, moment: datetime) -> ForecastLine:
        """The same line drawn from MOMENT on when it started earlier (a chart whose window
        is shorter than the fit's)."""
        if moment <= self.start or moment >= self.end:
            return self
        days = (moment - self.start).total_seconds() / 86400
        return replace(self, start=moment, start_value=self.start_value + self.slope_per_day * days)
