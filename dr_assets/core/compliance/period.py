"""The period a compliance report covers: whole UTC days, first and last day included."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from dr_assets.core.errors import ReportError

MAX_DAYS = 366  # a year (leap or not) at most: longer periods are split into several reports


@dataclass(frozen=True)
class ReportPeriod:
    first_day: date
    last_day: date

    @classmethod
    def of(cls, first_day: date, last_day: date) -> ReportPeriod:
        if first_day > last_day:
            raise ReportError(f"the period starts on {first_day} but ends on {last_day}: "
                              "--from must be on or before --to")
        days = (last_day - first_day).days + 1
        if days > MAX_DAYS:
            raise ReportError(f"the period {first_day} to {last_day} is {days} days long: "
                              f"a report covers at most {MAX_DAYS} days, split it")
        return cls(first_day, last_day)

    @classmethod
    def parse(cls, first: str, last: str) -> ReportPeriod:
        return cls.of(parse_day(first, "--from"), parse_day(last, "--to"))

    @classmethod
    def month(cls, any_day: date) -> ReportPeriod:
        first = any_day.replace(day=1)
        following = (first + timedelta(days=32)).replace(day=1)
        return cls(first, following - timedelta(days=1))

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first_day, time(), UTC)

    @property
    def end(self) -> datetime:
        """Exclusive: midnight after the last day."""
        return datetime.combine(self.last_day + timedelta(days=1), time(), UTC)

    @property
    def is_month(self) -> bool:
        return self == ReportPeriod.month(self.first_day)

    @property
    def label(self) -> str:
        """`2026-10` for a calendar month, else `2026-10-05_2026-10-09` (used in object keys)."""
        if self.is_month:
            return self.first_day.strftime("%Y-%m")
        return f"{self.first_day.isoformat()}_{self.last_day.isoformat()}"

    def contains(self, at: datetime | None) -> bool:
        return at is not None and self.start <= at < self.end


def parse_day(text: str, name: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ReportError(f"{name} {text!r} is not a date: write it as YYYY-MM-DD, "
                          "for example 2026-10-01") from None
