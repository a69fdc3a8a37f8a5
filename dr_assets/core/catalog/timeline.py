"""Backups per app and UTC day: the aggregate behind the public status timeline."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from dr_assets.core.catalog.connection import CatalogConnection


class BackupTimelineRecords(CatalogConnection):
    def backup_counts_by_day(self, apps: Sequence[str], since: datetime
                             ) -> list[dict[str, Any]]:
        """Succeeded (a deleted backup had succeeded before retention removed it) and failed
        backups per app and day started since `since`; days without backups are absent."""
        with self.cursor() as cur:
            cur.execute(
                """SELECT app, (started_at AT TIME ZONE 'UTC')::date AS day,
                     count(*) FILTER (WHERE status IN ('completed','degraded','deleted'))
                         AS succeeded,
                     count(*) FILTER (WHERE status = 'failed') AS failed
                   FROM dr.backups WHERE app = ANY(%s) AND started_at >= %s
                   GROUP BY app, day ORDER BY app, day""",
                (list(apps), since),
            )
            return [dict(r) for r in cur.fetchall()]
