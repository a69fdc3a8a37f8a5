"""Read-only queries behind dashboards: each answers for every app in one round trip."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from dr_assets.core.catalog.connection import CatalogConnection

VALID = "('completed','degraded')"
# A backup as listed: its columns (not the manifest, of which two facts are shown; not the
# per-table row counts, see row_counts), and its copies aggregated in the same statement.
BACKUP_ROW = """
    SELECT b.backup_id, b.app, b.status, b.started_at, b.finished_at, b.duration_seconds,
           b.raw_bytes, b.stored_bytes, b.sha256, b.key_id, b.dagster_run_id, b.partition_key,
           b.error, b.verified,
           b.manifest #>> '{source,server_version}' AS server_version,
           b.manifest #>> '{source,pg_dump_version}' AS pg_dump_version,
           coalesce((SELECT jsonb_object_agg(bc.destination,
            jsonb_build_object('status', bc.status, 'stored_bytes', bc.stored_bytes,
              'location', bc.location, 'error', bc.error,
              'verified_at', bc.verified_at, 'verified_ok', bc.verified_ok))
            FROM dr.backup_copies bc WHERE bc.backup_id = b.backup_id), '{}'::jsonb) AS copies
    FROM dr.backups b
"""


class Reports(CatalogConnection):
    def latest_backups(self, apps: Sequence[str]) -> dict[str, dict[str, Any]]:
        with self.cursor() as cur:
            cur.execute(
                f"""SELECT n.* FROM unnest(%s::text[]) AS a(app), LATERAL (
                        SELECT b.backup_id, b.app, b.status, b.started_at, b.finished_at,
                               b.stored_bytes, b.verified
                        FROM dr.backups b WHERE b.app = a.app AND b.status IN {VALID}
                        ORDER BY b.started_at DESC LIMIT 1) n""",
                (list(apps),),
            )
            return {r["app"]: dict(r) for r in cur.fetchall()}

    def latest_drills(self, apps: Sequence[str]) -> dict[str, dict[str, Any]]:
        with self.cursor() as cur:
            cur.execute(
                "SELECT DISTINCT ON (app) * FROM dr.drills WHERE app = ANY(%s)"
                " AND status <> 'running' ORDER BY app, finished_at DESC",
                (list(apps),),
            )
            return {r["app"]: dict(r) for r in cur.fetchall()}

    def backup_counts_since(self, since: datetime) -> dict[str, int]:
        with self.cursor() as cur:
            cur.execute(
                f"SELECT count(*) FILTER (WHERE status IN {VALID}) AS succeeded,"
                " count(*) FILTER (WHERE status = 'failed') AS failed"
                " FROM dr.backups WHERE started_at >= %s",
                (since,),
            )
            row = cur.fetchone()
            return {"succeeded": int(row["succeeded"]), "failed": int(row["failed"])} if row else {}

    def page_backups(self, app: str | None, status: str | None, since: datetime | None,
                     first: int, after: tuple[datetime, str] | None
                     ) -> tuple[list[dict[str, Any]], int]:
        """Keyset pagination, newest first; returns one extra row to tell if more follow."""
        where = ["b.status <> 'deleted'"]
        args: list[Any] = []
        if app:
            where.append("b.app = %s")
            args.append(app)
        if status:
            where.append("b.status = %s")
            args.append(status)
        if since:
            where.append("b.started_at >= %s")
            args.append(since)
        cond = " AND ".join(where)
        with self.cursor() as cur:
            cur.execute(f"SELECT count(*) AS n FROM dr.backups b WHERE {cond}", args)
            row = cur.fetchone()
            total = int(row["n"]) if row else 0
            page_cond = cond
            page_args = list(args)
            if after:
                page_cond += " AND (b.started_at, b.backup_id) < (%s, %s)"
                page_args += [after[0], after[1]]
            cur.execute(
                f"{BACKUP_ROW} WHERE {page_cond} ORDER BY b.started_at DESC, b.backup_id DESC"
                " LIMIT %s",
                [*page_args, first + 1],
            )
            return [dict(r) for r in cur.fetchall()], total

    def row_counts(self, backup_ids: Sequence[str]) -> dict[str, dict[str, int] | None]:
        """Per-table row counts of several backups in one round trip."""
        with self.cursor() as cur:
            cur.execute("SELECT backup_id, row_counts FROM dr.backups WHERE backup_id = ANY(%s)",
                        (list(backup_ids),))
            return {r["backup_id"]: r["row_counts"] for r in cur.fetchall()}

    def backup_row(self, backup_id: str) -> dict[str, Any] | None:
        with self.cursor() as cur:
            cur.execute(f"{BACKUP_ROW} WHERE b.backup_id = %s AND b.status <> 'deleted'",
                        (backup_id,))
            row = cur.fetchone()
            return dict(row) if row else None

    def storage_by_destination(self, now: datetime) -> list[dict[str, Any]]:
        """Bytes held per app and destination now, 7 and 30 days ago (so growth is exact)."""
        with self.cursor() as cur:
            cur.execute(
                """
                WITH held AS (
                    SELECT b.app, c.destination, c.stored_bytes, b.started_at, b.deleted_at,
                           b.status
                    FROM dr.backups b JOIN dr.backup_copies c USING (backup_id)
                    WHERE c.status = 'ok' AND b.status IN ('completed','degraded','deleted')
                )
                SELECT app, destination,
                  coalesce(sum(stored_bytes) FILTER (WHERE status <> 'deleted'), 0) AS bytes,
                  count(*) FILTER (WHERE status <> 'deleted') AS backups,
                  coalesce(sum(stored_bytes) FILTER (WHERE started_at <= %(now)s - interval '7 days'
                      AND (deleted_at IS NULL OR deleted_at > %(now)s - interval '7 days')), 0)
                      AS bytes_7d_ago,
                  coalesce(sum(stored_bytes) FILTER (WHERE started_at <= %(now)s - interval '30 days'
                      AND (deleted_at IS NULL OR deleted_at > %(now)s - interval '30 days')), 0)
                      AS bytes_30d_ago
                FROM held GROUP BY app, destination ORDER BY app, destination
                """,
                {"now": now},
            )
            return [dict(r) for r in cur.fetchall()]

    def dashboard_counts(self, now: datetime) -> dict[str, Any]:
        with self.cursor() as cur:
            cur.execute(
                f"""
                SELECT
                  (SELECT count(*) FROM dr.backups WHERE status IN {VALID}) AS total_backups,
                  (SELECT count(*) FROM dr.backups WHERE status IN {VALID}
                      AND started_at > %(now)s - interval '7 days') AS succeeded_7d,
                  (SELECT count(*) FROM dr.backups WHERE status <> 'running'
                      AND started_at > %(now)s - interval '7 days') AS attempted_7d,
                  (SELECT coalesce(avg(duration_seconds), 0) FROM dr.backups
                      WHERE status IN {VALID} AND started_at > %(now)s - interval '7 days')
                      AS avg_backup_seconds,
                  (SELECT coalesce(avg(restore_seconds), 0) FROM dr.drills WHERE status = 'passed'
                      AND finished_at > %(now)s - interval '30 days') AS avg_drill_seconds,
                  (SELECT count(*) FROM dr.drills WHERE status = 'passed'
                      AND finished_at > %(now)s - interval '30 days') AS drills_passed_30d,
                  (SELECT count(*) FROM dr.drills WHERE status = 'failed'
                      AND finished_at > %(now)s - interval '30 days') AS drills_failed_30d,
                  (SELECT count(*) FROM dr.restores WHERE started_at > %(now)s - interval '30 days'
                      AND mode <> 'DRILL') AS restores_30d,
                  (SELECT count(*) FROM dr.alerts WHERE status = 'open') AS active_alerts,
                  (SELECT count(*) FROM dr.alerts WHERE status = 'open' AND severity = 'critical')
                      AS critical_alerts
                """,
                {"now": now},
            )
            row = cur.fetchone()
            return dict(row) if row else {}

    def recent_activity(self, since: datetime, limit: int = 200) -> list[dict[str, Any]]:
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
            return [dict(r) for r in cur.fetchall()]
