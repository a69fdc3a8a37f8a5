"""The history the trend charts draw: drill restore times and backup sizes of apps over a
window, and the estate's stored bytes at the end of each UTC day. One query each; the
storage walk starts from the per-app totals the triggers keep, so it reads only the
window's backups, never the whole table."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from dr_assets.core.catalog.connection import CatalogConnection
from dr_assets.core.catalog.rows import Row
from dr_assets.core.catalog.status_sql import ONCE_VALID, VALID
from dr_assets.core.statuses import BackupStatus, DrillStatus


@dataclass(frozen=True)
class DrillTime(Row):
    """A finished drill that measured a restore time (a failed drill that got that far too)."""

    id: int
    app: str
    started_at: datetime
    status: str
    restore_seconds: float
    rto_seconds: float


@dataclass(frozen=True)
class BackupSize(Row):
    """A backup that stored its bytes (completed, degraded, or deleted later by retention),
    with the rules its contents check found and whether retention holds it."""

    backup_id: str
    app: str
    started_at: datetime
    stored_bytes: int
    anomalies: list[dict[str, Any]] | None
    held: bool


@dataclass(frozen=True)
class StorageDay(Row):
    """The estate's stored bytes at the end of `day` (UTC), as the storage total counts
    them: backups that had succeeded and were not yet deleted."""

    day: date
    stored_bytes: int


# Per app oldest first, from the drills_app_started and backups_app_started indexes.
DRILL_TIMES_SQL = f"""
SELECT id, app, started_at, status, restore_seconds, rto_seconds FROM dr.drills
WHERE app = ANY(%(apps)s) AND started_at >= %(since)s AND started_at <= %(until)s
  AND status <> '{DrillStatus.RUNNING}' AND restore_seconds IS NOT NULL
ORDER BY app, started_at, id"""
BACKUP_SIZES_SQL = f"""
SELECT backup_id, app, started_at, stored_bytes, anomalies, held FROM dr.backups
WHERE app = ANY(%(apps)s) AND started_at >= %(since)s AND started_at <= %(until)s
  AND status IN {ONCE_VALID} AND stored_bytes IS NOT NULL
ORDER BY app, started_at, backup_id"""
# A day's storage is the total now, less what was stored after that day, plus what was
# deleted after it; a row deleted without a deletion time was never counted in the total.
STORAGE_BY_DAY_SQL = f"""
WITH now_total AS (
  SELECT coalesce(sum(stored_bytes), 0) AS total FROM dr.backup_totals
  WHERE app = ANY(%(apps)s) AND status IN {VALID}),
events AS (
  SELECT (started_at AT TIME ZONE 'UTC')::date AS day, stored_bytes AS net
  FROM dr.backups WHERE app = ANY(%(apps)s) AND started_at >= %(since)s
    AND status IN {ONCE_VALID} AND stored_bytes IS NOT NULL
    AND (status <> '{BackupStatus.DELETED}' OR deleted_at IS NOT NULL)
  UNION ALL
  SELECT (deleted_at AT TIME ZONE 'UTC')::date, -stored_bytes
  FROM dr.backups WHERE app = ANY(%(apps)s) AND deleted_at >= %(since)s
    AND status = '{BackupStatus.DELETED}' AND stored_bytes IS NOT NULL),
per_day AS (SELECT day, sum(net) AS net FROM events GROUP BY day),
later AS (  -- what changed after each day of the window, newest day first
  SELECT d.day::date AS day, coalesce(sum(p.net), 0) AS after
  FROM generate_series(%(first)s::date, %(last)s::date, interval '1 day') d(day)
  LEFT JOIN per_day p ON p.day > d.day::date
  GROUP BY d.day)
SELECT l.day, (n.total - l.after)::bigint AS stored_bytes
FROM later l CROSS JOIN now_total n ORDER BY l.day"""


class HistoryRecords(CatalogConnection):
    def drill_times(self, apps: Sequence[str], since: datetime, until: datetime
                    ) -> list[DrillTime]:
        """Drills of `apps` started in since..until, per app oldest first."""
        return self.fetch(DrillTime, DRILL_TIMES_SQL,
                          {"apps": list(apps), "since": since, "until": until})

    def backup_sizes(self, apps: Sequence[str], since: datetime, until: datetime
                     ) -> list[BackupSize]:
        """Backups of `apps` started in since..until that stored bytes, per app oldest first."""
        return self.fetch(BackupSize, BACKUP_SIZES_SQL,
                          {"apps": list(apps), "since": since, "until": until})

    def storage_by_day(self, apps: Sequence[str], first: date, last: date) -> list[StorageDay]:
        """Every day from `first` to `last`, walked back from today's total: only backups
        started or deleted since `first` are read."""
        with self.cursor() as cur:
            # A scan of the window's backups: JIT compiling it cost 0.1-0.5 s of 0.7-2.3 s
            # at 1,000 apps and a year (bench/trend_charts.py).
            cur.execute("SET LOCAL jit = off")
            cur.execute(STORAGE_BY_DAY_SQL, storage_args(apps, first, last))
            return [StorageDay.from_record(r) for r in cur.fetchall()]


def storage_args(apps: Sequence[str], first: date, last: date) -> dict[str, Any]:
    return {"apps": list(apps), "since": datetime.combine(first, time(), UTC), "first": first,
            "last": last}
