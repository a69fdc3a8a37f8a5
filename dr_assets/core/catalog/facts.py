"""The facts health scoring needs, read for all apps at once (a fixed number of queries)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from dr_assets.core.catalog.connection import CatalogConnection
from dr_assets.core.catalog.rows import AppFacts, DrillFact
from dr_assets.core.catalog.status_sql import VALID
from dr_assets.core.statuses import BackupStatus, DrillStatus, Integrity


class HealthFacts(CatalogConnection):
    def app_facts(self, apps: Sequence[str], now: datetime) -> dict[str, AppFacts]:
        with self.cursor() as cur:
            cur.execute(
                f"""
                SELECT app,
                  max(started_at) FILTER (WHERE verified AND status IN {VALID})
                      AS newest_verified_at,
                  count(*) FILTER (WHERE started_at > %(now)s - interval '7 days'
                                   AND status <> '{BackupStatus.RUNNING}') AS attempts_7d,
                  count(*) FILTER (WHERE started_at > %(now)s - interval '7 days'
                                   AND status IN {VALID}) AS successes_7d,
                  count(*) FILTER (WHERE started_at > %(now)s - interval '24 hours'
                                   AND status = '{BackupStatus.FAILED}') AS failures_24h,
                  coalesce(sum(stored_bytes) FILTER (WHERE status IN {VALID}), 0)
                      AS stored_bytes,
                  count(*) FILTER (WHERE status IN {VALID}) AS backup_count,
                  bool_or(check_failed) FILTER (WHERE status IN {VALID})
                      AS any_failed
                FROM dr.backups WHERE app = ANY(%(apps)s) AND started_at <= %(now)s
                GROUP BY app
                """,
                {"apps": list(apps), "now": now},
            )
            agg = {r["app"]: r for r in cur.fetchall()}
            # The newest backup that has been checked, per app, and whether it failed.
            cur.execute(
                f"""
                SELECT a.app, n.check_failed, n.verified
                FROM unnest(%(apps)s::text[]) AS a(app), LATERAL (
                    SELECT check_failed, verified FROM dr.backups b
                    WHERE b.app = a.app AND b.checks > 0 AND b.status IN {VALID}
                      AND b.started_at <= %(now)s
                    ORDER BY b.started_at DESC LIMIT 1) n
                """,
                {"apps": list(apps), "now": now},
            )
            newest_checked = {r["app"]: r for r in cur.fetchall()}
            cur.execute(
                f"""
                SELECT a.app, n.status
                FROM unnest(%(apps)s::text[]) AS a(app), LATERAL (
                    SELECT status FROM dr.backups b
                    WHERE b.app = a.app AND b.status <> '{BackupStatus.DELETED}'
                      AND b.started_at <= %(now)s
                    ORDER BY b.started_at DESC LIMIT 1) n
                """,
                {"apps": list(apps), "now": now},
            )
            newest_status = {r["app"]: r["status"] for r in cur.fetchall()}
            cur.execute(
                f"""
                SELECT DISTINCT ON (app) app, status, finished_at, restore_seconds FROM dr.drills
                WHERE app = ANY(%(apps)s) AND status <> '{DrillStatus.RUNNING}'
                  AND finished_at <= %(now)s
                ORDER BY app, finished_at DESC
                """,
                {"apps": list(apps), "now": now},
            )
            drills = {r["app"]: r for r in cur.fetchall()}
        out = {}
        for app in apps:
            a: dict[str, Any] = dict(agg.get(app) or {})
            checked = newest_checked.get(app)
            if checked is None:
                integrity = Integrity.UNKNOWN
            elif checked["check_failed"]:
                integrity = Integrity.NEWEST_FAILED
            elif a.get("any_failed"):
                integrity = Integrity.OLDER_FAILED
            else:
                integrity = Integrity.OK
            d = drills.get(app)
            out[app] = AppFacts(
                app=app,
                newest_verified_at=a.get("newest_verified_at"),
                attempts_7d=int(a.get("attempts_7d", 0)),
                successes_7d=int(a.get("successes_7d", 0)),
                integrity=integrity,
                last_drill=DrillFact(passed=d["status"] == DrillStatus.PASSED,
                                     finished_at=d["finished_at"],
                                     restore_seconds=d["restore_seconds"]) if d else None,
                failures_24h=int(a.get("failures_24h", 0)),
                newest_status=newest_status.get(app),
                stored_bytes=int(a.get("stored_bytes", 0)),
                backup_count=int(a.get("backup_count", 0)),
            )
        return out
