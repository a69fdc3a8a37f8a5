"""The backup timeline of the status page: per app, backups succeeded and failed per UTC day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from dr_assets.core.catalog import Catalog
from dr_assets.core.catalog.rows import BackupDay
from dr_assets.core.errors import ReportError
from dr_assets.core.policy import DRConfig

MAX_TIMELINE_DAYS = 366


@dataclass(frozen=True)
class AppTimeline:
    app: str
    days: tuple[BackupDay, ...]

    @property
    def succeeded(self) -> int:
        return sum(d.succeeded for d in self.days)

    @property
    def failed(self) -> int:
        return sum(d.failed for d in self.days)


def backup_timeline(config: DRConfig, catalog: Catalog, now: datetime, days: int = 30
                    ) -> list[AppTimeline]:
    """The last `days` UTC days up to today, every day present (zeros where nothing ran)."""
    if not 1 <= days <= MAX_TIMELINE_DAYS:
        raise ReportError(f"days must be between 1 and {MAX_TIMELINE_DAYS}, got {days}")
    today = now.astimezone(UTC).date()
    first = today - timedelta(days=days - 1)
    rows = catalog.backup_counts_by_day(list(config.apps),
                                        datetime.combine(first, time(), UTC))
    counts = {(r.app, r.day): r for r in rows}
    out = []
    for app in config.apps:
        out.append(AppTimeline(app, tuple(
            counts.get((app, day)) or BackupDay(app, day, 0, 0)
            for day in (first + timedelta(days=i) for i in range(days)))))
    return out
