"""Backups per app and UTC day: the aggregate behind the public status timeline."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from dr_assets.core.catalog.connection import CatalogConnection
from dr_assets.core.catalog.rows import BackupDay
from dr_assets.core.catalog.status_sql import ONCE_VALID
from dr_assets.core.statuses import BackupStatus


class BackupTimelineRecords(CatalogConnection):
    def backup_counts_by_day(self, apps: Sequence[str], since: datetime) -> list[BackupDay]:
        """Succeeded (a deleted backup had succeeded before retention removed it) and failed
        backups per app and day started since `since`; days without backups are absent."""
        with self.cursor() as cur:
            cur.execute(
                f"""SELECT app, (started_at AT TIME ZONE 'UTC')::date AS day,
                     count(*) FILTER (WHERE status IN {ONCE_VALID}) AS succeeded,
                     count(*) FILTER (WHERE status = '{BackupStatus.FAILED}') AS failed
                   FROM dr.backups WHERE app = ANY(%s) AND started_at >= %s
                   GROUP BY app, day ORDER BY app, day""",
                (list(apps), since),
            )
            return [BackupDay.from_record(r) for r in cur.fetchall()]
