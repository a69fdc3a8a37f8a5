"""The windows of an app's backup schedule, as its Dagster partitions cut them: every
`every_hours` from midnight UTC, or for whole-day cadences on days 1, 1+n, 1+2n ... of each
month (cron `*/n` restarts every month)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from itertools import pairwise

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def _starts_daily(days: int, start: datetime, end: datetime) -> Iterator[datetime]:
    """Midnights on the cadence's days of the month, from the one at or before start."""
    day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    while (day.day - 1) % days:
        day -= DAY
    while day < end + timedelta(days=days):
        yield day
        day += DAY
        while (day.day - 1) % days:
            day += DAY


def _starts_hourly(every_hours: int, start: datetime, end: datetime) -> Iterator[datetime]:
    at = start.replace(hour=0, minute=0, second=0, microsecond=0)
    while at < end + timedelta(hours=every_hours):
        yield at
        at += every_hours * HOUR


def scheduled_windows(every_hours: int, start: datetime, end: datetime
                      ) -> list[tuple[datetime, datetime]]:
    """Every window that starts in [start, end), as (start, exclusive end)."""
    if every_hours < 24:
        starts = list(_starts_hourly(every_hours, start, end))
    else:
        starts = list(_starts_daily(every_hours // 24, start, end))
    return [(a, b) for a, b in pairwise(starts) if start <= a < end]
