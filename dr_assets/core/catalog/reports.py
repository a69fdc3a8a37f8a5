"""Read-only queries behind dashboards: each answers for every app in one round trip."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from dr_assets.core.catalog.connection import CatalogConnection
from dr_assets.core.catalog.rows import (
    ActivityRow,
    BackupHead,
    BackupOutcomes,
    DashboardCounts,
    DrillRow,
    StorageRow,
)
from dr_assets.core.catalog.status_sql import ONCE_VALID, VALID
from dr_assets.core.statuses import AlertStatus, BackupStatus, CopyStatus, DrillStatus


class Reports(CatalogConnection):
    def latest_backups(self, apps: Sequence[str]) -> dict[str, BackupHead]:
        """Each app's newest valid backup, one index probe per app."""
        with self.cursor() as cur:
            cur.execute(
                f"""SELECT n.* FROM unnest(%s::text[]) AS a(app), LATERAL (
                        SELECT b.backup_id, b.app, b.status, b.started_at, b.finished_at,
                               b.stored_bytes, b.verified
                        FROM dr.backups b WHERE b.app = a.app AND b.status IN {VALID}
                        ORDER BY b.started_at DESC LIMIT 1) n""",
                (list(apps),),
            )
            return {r["app"]: BackupHead.from_record(r) for r in cur.fetchall()}

    def latest_drills(self, apps: Sequence[str]) -> dict[str, DrillRow]:
        with self.cursor() as cur:
            cur.execute(
                f"""SELECT n.* FROM unnest(%s::text[]) AS a(app), LATERAL (
                        SELECT * FROM dr.drills d WHERE d.app = a.app
                        AND d.status <> '{DrillStatus.RUNNING}'
                        ORDER BY d.finished_at DESC LIMIT 1) n""",
                (list(apps),),
            )
            return {r["app"]: DrillRow.from_record(r) for r in cur.fetchall()}

    def backup_counts_since(self, since: datetime) -> BackupOutcomes:
        with self.cursor() as cur:
            cur.execute(
                f"SELECT count(*) FILTER (WHERE status IN {VALID}) AS succeeded,"
                f" count(*) FILTER (WHERE status = '{BackupStatus.FAILED}') AS failed"
                " FROM dr.backups WHERE started_at >= %s",
                (since,),
            )
            row = cur.fetchone()
            assert row is not None  # an aggregate without GROUP BY always has its row
            return BackupOutcomes.from_record(row)

    def row_counts(self, backup_ids: Sequence[str]) -> dict[str, dict[str, int] | None]:
        """Per-table row counts of several backups in one round trip."""
        with self.cursor() as cur:
            cur.execute("SELECT backup_id, row_counts FROM dr.backups WHERE backup_id = ANY(%s)",
                        (list(backup_ids),))
            return {r["backup_id"]: r["row_counts"] for r in cur.fetchall()}

    def storage_by_destination(self, now: datetime) -> list[StorageRow]:
        """Bytes held per app and destination now, 7 and 30 days ago (so growth is exact)."""
        with self.cursor() as cur:
            cur.execute(
                f"""
                WITH held AS (
                    SELECT b.app, c.destination, c.stored_bytes, b.started_at, b.deleted_at,
                           b.status
                    FROM dr.backups b JOIN dr.backup_copies c USING (backup_id)
                    WHERE c.status = '{CopyStatus.OK}' AND b.status IN {ONCE_VALID}
                )
                SELECT app, destination,
                  coalesce(sum(stored_bytes) FILTER (WHERE status <> '{BackupStatus.DELETED}'), 0)
                      ::bigint AS bytes,
                  count(*) FILTER (WHERE status <> '{BackupStatus.DELETED}') AS backups,
                  coalesce(sum(stored_bytes) FILTER (WHERE started_at <= %(now)s - interval '7 days'
                      AND (deleted_at IS NULL OR deleted_at > %(now)s - interval '7 days')), 0)
                      ::bigint AS bytes_7d_ago,
                  coalesce(sum(stored_bytes) FILTER (WHERE started_at <= %(now)s - interval '30 days'
                      AND (deleted_at IS NULL OR deleted_at > %(now)s - interval '30 days')), 0)
                      ::bigint AS bytes_30d_ago
                FROM held GROUP BY app, destination ORDER BY app, destination
                """,
                {"now": now},
            )
            return [StorageRow.from_record(r) for r in cur.fetchall()]

    def dashboard_counts(self, now: datetime) -> DashboardCounts:
        with self.cursor() as cur:
            cur.execute(
                f"""
                SELECT
                  (SELECT coalesce(sum(backups), 0) FROM dr.backup_totals
                      WHERE status IN {VALID}) AS total_backups,
                  (SELECT count(*) FROM dr.backups WHERE status IN {VALID}
                      AND started_at > %(now)s - interval '7 days') AS succeeded_7d,
                  (SELECT count(*) FROM dr.backups WHERE status <> '{BackupStatus.RUNNING}'
                      AND started_at > %(now)s - interval '7 days') AS attempted_7d,
                  (SELECT coalesce(avg(duration_seconds), 0) FROM dr.backups
                      WHERE status IN {VALID} AND started_at > %(now)s - interval '7 days')
                      AS avg_backup_seconds,
                  (SELECT coalesce(avg(restore_seconds), 0) FROM dr.drills
                      WHERE status = '{DrillStatus.PASSED}'
                      AND finished_at > %(now)s - interval '30 days') AS avg_drill_seconds,
                  (SELECT count(*) FROM dr.drills WHERE status = '{DrillStatus.PASSED}'
                      AND finished_at > %(now)s - interval '30 days') AS drills_passed_30d,
                  (SELECT count(*) FROM dr.drills WHERE status = '{DrillStatus.FAILED}'
                      AND finished_at > %(now)s - interval '30 days') AS drills_failed_30d,
                  (SELECT count(*) FROM dr.restores WHERE started_at > %(now)s - interval '30 days'
                      AND mode <> 'DRILL') AS restores_30d,
                  (SELECT count(*) FROM dr.alerts WHERE status = '{AlertStatus.OPEN}')
                      AS active_alerts,
                  (SELECT count(*) FROM dr.alerts WHERE status = '{AlertStatus.OPEN}'
                      AND severity = 'critical') AS critical_alerts
                """,
                {"now": now},
            )
            row = cur.fetchone()
            assert row is not None  # one row of subqueries
            return DashboardCounts.from_record(row)

    def recent_activity(self, since: datetime, limit: int = 200) -> list[ActivityRow]:
        with self.cursor() as cur:
            cur.execute(
                """
                SELECT * FROM (
                  SELECT started_at AS at, 'backup' AS kind, app, status, backup_id AS ref,
                         coalesce(error, '') AS detail FROM dr.backups WHERE started_at >= %(s)s
                  UNION ALL
                  SELECT started_at, CASE WHEN mode = 'DRILL' THEN 'drill_restore' ELSE 'restore'
                         END, app, status, backup_id, coalesce(error, target_database)
                  FROM dr.restores WHERE started_at >= %(s)s
                  UNION ALL
                  SELECT started_at, 'drill', app, status, backup_id, coalesce(error, '')
                  FROM dr.drills WHERE started_at >= %(s)s
                  UNION ALL
                  SELECT opened_at, 'alert', app, status, kind, message
                  FROM dr.alerts WHERE opened_at >= %(s)s
                ) events ORDER BY at DESC LIMIT %(limit)s
                """,
                {"s": since, "limit": limit},
            )
            return [ActivityRow.from_record(r) for r in cur.fetchall()]
