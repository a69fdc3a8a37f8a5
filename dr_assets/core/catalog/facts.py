"""The facts health scoring and the dashboards need, read for all apps at once in one
statement, each part from an index or the per-app totals: none reads every backup."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from datetime import datetime
from typing import TypeVar

from dr_assets.core.catalog.connection import CatalogConnection, records
from dr_assets.core.catalog.rows import AppFacts, BackupHead, DrillFact, DrillRow, Record, Row
from dr_assets.core.catalog.status_sql import VALID
from dr_assets.core.statuses import BackupStatus, DrillStatus, Integrity

R = TypeVar("R", bound=Row)


def _names(row: type[Row]) -> list[str]:
    return [f.name for f in fields(row)]  # type: ignore[arg-type]


HEAD_FIELDS, DRILL_FIELDS = _names(BackupHead), _names(DrillRow)


def _columns(names: list[str], alias: str) -> str:
    """`alias`'s columns `names`, each named with the alias in front."""
    return ", ".join(f"{alias}.{n} AS {alias}_{n}" for n in names)


def _prefixed(row: type[R], names: list[str], alias: str, record: Record) -> R | None:
    """The `row` whose columns _columns named, or None when the join found none."""
    if record[f"{alias}_{names[0]}"] is None:
        return None
    return row(**{n: record[f"{alias}_{n}"] for n in names})


APP_FACTS = f"""
WITH totals AS (  -- all-time counts and sums: the per-app totals, not every backup
    SELECT app, coalesce(sum(backups) FILTER (WHERE status IN {VALID}), 0) AS backup_count,
           coalesce(sum(stored_bytes) FILTER (WHERE status IN {VALID}), 0) AS stored_bytes
    FROM dr.backup_totals WHERE app = ANY(%(apps)s) GROUP BY app
), week AS (  -- the last 7 days, from the window index (backups_window)
    SELECT app,
      count(*) FILTER (WHERE status <> '{BackupStatus.RUNNING}') AS attempts_7d,
      count(*) FILTER (WHERE status IN {VALID}) AS successes_7d,
      count(*) FILTER (WHERE started_at > %(now)s - interval '24 hours'
                       AND status = '{BackupStatus.FAILED}') AS failures_24h
    FROM dr.backups WHERE started_at > %(now)s - interval '7 days' AND started_at <= %(now)s
      AND app = ANY(%(apps)s)
    GROUP BY app
)
-- then per app, from the (app, started_at) index: its newest valid, verified, checked and
-- not deleted backups, whether any valid one failed its check, and its last finished drill
SELECT a.app, t.backup_count, t.stored_bytes, w.attempts_7d, w.successes_7d, w.failures_24h,
       v.started_at AS newest_verified_at, c.check_failed AS newest_check_failed,
       s.status AS newest_status,
       EXISTS (SELECT FROM dr.backups f WHERE f.app = a.app AND f.check_failed
               AND f.status IN {VALID} AND f.started_at <= %(now)s) AS any_failed,
       {_columns(HEAD_FIELDS, "l")}, {_columns(DRILL_FIELDS, "d")}
FROM unnest(%(apps)s::text[]) AS a(app)
LEFT JOIN totals t ON t.app = a.app
LEFT JOIN week w ON w.app = a.app
LEFT JOIN LATERAL (
    SELECT b.backup_id, b.app, b.status, b.started_at, b.finished_at, b.stored_bytes, b.verified
    FROM dr.backups b WHERE b.app = a.app AND b.status IN {VALID} AND b.started_at <= %(now)s
    ORDER BY b.started_at DESC LIMIT 1) l ON true
LEFT JOIN LATERAL (
    SELECT b.started_at FROM dr.backups b
    WHERE b.app = a.app AND b.verified AND b.status IN {VALID} AND b.started_at <= %(now)s
    ORDER BY b.started_at DESC LIMIT 1) v ON true
LEFT JOIN LATERAL (
    SELECT b.check_failed FROM dr.backups b
    WHERE b.app = a.app AND b.checks > 0 AND b.status IN {VALID} AND b.started_at <= %(now)s
    ORDER BY b.started_at DESC LIMIT 1) c ON true
LEFT JOIN LATERAL (
    SELECT b.status FROM dr.backups b
    WHERE b.app = a.app AND b.status <> '{BackupStatus.DELETED}' AND b.started_at <= %(now)s
    ORDER BY b.started_at DESC LIMIT 1) s ON true
LEFT JOIN LATERAL (
    SELECT * FROM dr.drills x WHERE x.app = a.app AND x.status <> '{DrillStatus.RUNNING}'
      AND x.finished_at <= %(now)s
    ORDER BY x.finished_at DESC LIMIT 1) d ON true
"""


class HealthFacts(CatalogConnection):
    def app_facts(self, apps: Sequence[str], now: datetime) -> dict[str, AppFacts]:
        with self.cursor() as cur:
            # Its cost estimate (a thousand index probes) is above the JIT's threshold, and
            # compiling would take longer than running it.
            cur.execute("SET LOCAL jit = off")
            return {r["app"]: _facts(r)
                    for r in records(cur, APP_FACTS, {"apps": list(apps), "now": now})}


def _facts(r: Record) -> AppFacts:
    if r["newest_check_failed"] is None:  # no backup was checked
        integrity = Integrity.UNKNOWN
    elif r["newest_check_failed"]:
        integrity = Integrity.NEWEST_FAILED
    elif r["any_failed"]:
        integrity = Integrity.OLDER_FAILED
    else:
        integrity = Integrity.OK
    drill = _prefixed(DrillRow, DRILL_FIELDS, "d", r)
    return AppFacts(
        app=r["app"],
        newest_verified_at=r["newest_verified_at"],
        attempts_7d=int(r["attempts_7d"] or 0),
        successes_7d=int(r["successes_7d"] or 0),
        integrity=integrity,
        last_drill=DrillFact(passed=drill.status == DrillStatus.PASSED,
                             finished_at=drill.finished_at,  # type: ignore[arg-type] # finished
                             restore_seconds=drill.restore_seconds) if drill else None,
        failures_24h=int(r["failures_24h"] or 0),
        newest_status=r["newest_status"],
        stored_bytes=int(r["stored_bytes"] or 0),
        backup_count=int(r["backup_count"] or 0),
        newest_valid=_prefixed(BackupHead, HEAD_FIELDS, "l", r),
        drill=drill,
    )
