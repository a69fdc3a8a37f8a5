"""The facts health scoring and the dashboards need, read for all apps at once in one
statement from the tables the catalog's triggers keep per app (dr.backup_totals,
dr.newest_backups) and the index of the last 7 days: none reads every backup. Those per-app
rows are as of now, whatever `now` is asked for (no backup starts in the future)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any

from dr_assets.core.catalog.connection import CatalogConnection, tuples
from dr_assets.core.catalog.rows import AppFacts, BackupHead, DrillFact, DrillHead, Row
from dr_assets.core.catalog.status_sql import VALID
from dr_assets.core.statuses import BackupStatus, DrillStatus, Integrity


def _names(row: type[Row]) -> list[str]:
    return [f.name for f in fields(row)]  # type: ignore[arg-type]


HEAD_FIELDS, DRILL_FIELDS = _names(BackupHead), _names(DrillHead)
SCALARS = 10  # the columns before the newest valid backup's, then the last drill's


def _columns(names: list[str], alias: str) -> str:
    return ", ".join(f"{alias}.{n}" for n in names)


APP_FACTS = f"""
WITH totals AS (  -- all-time counts and sums: the per-app totals, not every backup
    SELECT app, coalesce(sum(backups) FILTER (WHERE status IN {VALID}), 0) AS backup_count,
           coalesce(sum(stored_bytes) FILTER (WHERE status IN {VALID}), 0) AS stored_bytes
    FROM dr.backup_totals GROUP BY app
), week AS (  -- the last 7 days, from the window index (backups_window)
    SELECT app,
      count(*) FILTER (WHERE status <> '{BackupStatus.RUNNING}') AS attempts_7d,
      count(*) FILTER (WHERE status IN {VALID}) AS successes_7d,
      count(*) FILTER (WHERE started_at > %(now)s - interval '24 hours'
                       AND status = '{BackupStatus.FAILED}') AS failures_24h
    FROM dr.backups WHERE started_at > %(now)s - interval '7 days' AND started_at <= %(now)s
    GROUP BY app
)
-- then per app its newest backups as the triggers keep them (dr.newest_backups: the newest
-- valid one, l, and what health reads of the others) and its last finished drill
SELECT a.app, t.backup_count, t.stored_bytes, w.attempts_7d, w.successes_7d, w.failures_24h,
       l.verified_at, l.newest_check_failed, l.newest_status, l.any_check_failed,
       {_columns(HEAD_FIELDS, "l")}, {_columns(DRILL_FIELDS, "d")}
FROM unnest(%(apps)s::text[]) AS a(app)
LEFT JOIN totals t ON t.app = a.app
LEFT JOIN week w ON w.app = a.app
LEFT JOIN dr.newest_backups l ON l.app = a.app
LEFT JOIN LATERAL (
    SELECT {", ".join(DRILL_FIELDS)} FROM dr.drills x
    WHERE x.app = a.app AND x.status <> '{DrillStatus.RUNNING}' AND x.finished_at <= %(now)s
    ORDER BY x.finished_at DESC LIMIT 1) d ON true
"""


class HealthFacts(CatalogConnection):
    def app_facts(self, apps: Sequence[str], now: datetime) -> dict[str, AppFacts]:
        with self.cursor() as cur:
            # The planner expects many more rows than apps: its cost is above the JIT's
            # threshold, and compiling would take longer than running it.
            cur.execute("SET LOCAL jit = off")
            return {r[0]: _facts(r)
                    for r in tuples(cur, APP_FACTS, {"apps": list(apps), "now": now})}


def _facts(r: tuple[Any, ...]) -> AppFacts:
    (app, backup_count, stored_bytes, attempts, successes, failures, verified_at, check_failed,
     newest_status, any_failed) = r[:SCALARS]
    if check_failed is None:  # no backup was checked
        integrity = Integrity.UNKNOWN
    elif check_failed:
        integrity = Integrity.NEWEST_FAILED
    elif any_failed:
        integrity = Integrity.OLDER_FAILED
    else:
        integrity = Integrity.OK
    drill_at = SCALARS + len(HEAD_FIELDS)
    head = BackupHead(*r[SCALARS:drill_at]) if r[SCALARS] is not None else None
    drill = DrillHead(*r[drill_at:]) if r[drill_at] is not None else None
    return AppFacts(
        app=app,
        newest_verified_at=verified_at,
        attempts_7d=int(attempts or 0),
        successes_7d=int(successes or 0),
        integrity=integrity,
        last_drill=DrillFact(passed=drill.status == DrillStatus.PASSED,
                             finished_at=drill.finished_at,
                             restore_seconds=drill.restore_seconds) if drill else None,
        failures_24h=int(failures or 0),
        newest_status=newest_status,
        stored_bytes=int(stored_bytes or 0),
        backup_count=int(backup_count or 0),
        newest_valid=head,
        drill=drill,
    )
