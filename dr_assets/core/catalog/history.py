"""The history the trend charts draw: drill restore times and backup sizes of one app over
a window, and the estate's stored bytes at the end of each UTC day. One query each; the
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


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


class HistoryRecords(CatalogConnection):
    def drill_times(self, apps: Sequence[str], since: datetime, until: datetime
                    ) -> list[DrillTime]:
        """Drills of `apps` started in since..until, per app oldest first (from the
        drills_app_started index)."""
        return self.fetch(
            DrillTime,
            "SELECT id, app, started_at, status, restore_seconds, rto_seconds FROM dr.drills"
            " WHERE app = ANY(%s) AND started_at >= %s AND started_at <= %s"
            f" AND status <> '{DrillStatus.RUNNING}' AND restore_seconds IS NOT NULL"
            " ORDER BY app, started_at, id",
            (list(apps), since, until))

    def backup_sizes(self, apps: Sequence[str], since: datetime, until: datetime
                     ) -> list[BackupSize]:
        """Backups of `apps` started in since..until that stored bytes, per app oldest first
        (from the backups_app_started index)."""
        return self.fetch(
            BackupSize,
            "SELECT backup_id, app, started_at, stored_bytes, anomalies, held FROM dr.backups"
            " WHERE app = ANY(%s) AND started_at >= %s AND started_at <= %s"
            f" AND status IN {ONCE_VALID} AND stored_bytes IS NOT NULL"
            " ORDER BY app, started_at, backup_id",
            (list(apps), since, until))

    def storage_by_day(self, apps: Sequence[str], first: date, last: date) -> list[StorageDay]:
        """Every day from `first` to `last`. Walked back from today's total: a day's storage
        is the total now, less what was stored after it, plus what retention deleted after
        it; only backups started or deleted since `first` are read."""
        since = _midnight(first)
        with self.cursor() as cur:
            cur.execute(
                f"""WITH now_total AS (
                      SELECT coalesce(sum(stored_bytes), 0) AS total FROM dr.backup_totals
                      WHERE app = ANY(%(apps)s) AND status IN {VALID}),
                    events AS (
                      SELECT (started_at AT TIME ZONE 'UTC')::date AS day,
                             stored_bytes AS added, 0::bigint AS removed
                      FROM dr.backups WHERE app = ANY(%(apps)s) AND started_at >= %(since)s
                        AND status IN {ONCE_VALID} AND stored_bytes IS NOT NULL
                        AND (status <> '{BackupStatus.DELETED}' OR deleted_at IS NOT NULL)
                      UNION ALL
                      SELECT (deleted_at AT TIME ZONE 'UTC')::date, 0, stored_bytes
                      FROM dr.backups WHERE app = ANY(%(apps)s) AND deleted_at >= %(since)s
                        AND status = '{BackupStatus.DELETED}' AND stored_bytes IS NOT NULL),
                    per_day AS (
                      SELECT day, sum(added - removed) AS net FROM events GROUP BY day)
                  SELECT d.day::date AS day,
                         (n.total - coalesce((SELECT sum(p.net) FROM per_day p
                                              WHERE p.day > d.day), 0))::bigint AS stored_bytes
                  FROM generate_series(%(first)s::date, %(last)s::date, interval '1 day') d(day)
                  CROSS JOIN now_total n ORDER BY d.day""",
                {"apps": list(apps), "since": since, "first": first, "last": last})
            return [StorageDay.from_record(r) for r in cur.fetchall()]

