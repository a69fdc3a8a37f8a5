"""Which `running` backups, restores and drills are dead, and marking them failed.

A run holds a key of its own (CatalogConnection.alive, or app_lock for a backup) on a
catalog session from before its row is written until after its outcome is, and records
the key in the row (alive_key). The server releases a session's advisory locks when the
session ends, which it does at once when the process is killed (its kernel closes the
socket) and within about a minute when its machine vanishes (the session's keepalives).
So a running row whose key no session holds is dead, however young; one whose key is held
is alive, however old. One read of pg_locks answers for every row, with no lock taken.

The check and the outcome cannot cross: a live run's key is held while its row is
visible as running, and is let go only after its outcome is committed, so a row found
dead is failed by an UPDATE that still requires `status = 'running'` (a run that
finished meanwhile is left as it finished). A run that loses its catalog session while
alive is taken for dead: its row is failed and its partial uploads removed, so it fails
too instead of publishing under a row that says otherwise.

Rows written before alive_key existed (NULL) keep the age rule: failed when running for
over LEGACY_STALE_SECONDS.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from dr_assets.core.catalog.connection import CatalogConnection
from dr_assets.core.catalog.rows import Row
from dr_assets.core.statuses import BackupStatus, DrillStatus, RestoreStatus

LEGACY_STALE_SECONDS = 6 * 3600

KIND_BACKUP = "backup"
KIND_RESTORE = "restore"
KIND_DRILL = "drill"

# The advisory locks granted in the catalog's database, as the bigint keys they were taken
# with (a one-bigint lock shows its high half as classid, its low half as objid, objsubid 1).
_HELD = """held AS (
    SELECT (l.classid::bigint << 32) | l.objid::bigint AS k FROM pg_locks l
    WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND l.granted
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()))"""
_DEAD = ("status = 'running' AND (%(app)s::text IS NULL OR app = %(app)s) AND CASE"
         " WHEN alive_key IS NULL THEN started_at < now() - make_interval(secs => %(legacy)s)"
         " ELSE alive_key NOT IN (SELECT k FROM held) END")

# kind: (table, id column, what else the row says of what it left behind, failed status)
_TABLES = {
    KIND_BACKUP: ("dr.backups", "backup_id", "NULL::text", "NULL::text", BackupStatus.FAILED),
    KIND_RESTORE: ("dr.restores", "id", "target_database", "mode", RestoreStatus.FAILED),
    KIND_DRILL: ("dr.drills", "id", "scratch_database", "target", DrillStatus.FAILED),
}


@dataclass(frozen=True)
class DeadRun(Row):
    """A running row whose process is gone (or, by_age, a row of before alive keys that is
    running for too long)."""

    kind: str  # KIND_BACKUP, KIND_RESTORE or KIND_DRILL
    id: str  # the backup id, or the restore's or drill's id
    app: str
    started_at: datetime
    leftover: str | None  # a restore's target database, a drill's scratch database
    how: str | None  # a restore's mode, a drill's target
    by_age: bool


class RunLiveness(CatalogConnection):
    def dead_runs(self, app: str | None = None,
                  legacy_seconds: float = LEGACY_STALE_SECONDS) -> list[DeadRun]:
        """The dead running rows (of one app, or all): one statement, reading a partial
        index of the running rows and pg_locks."""
        parts = [
            f"SELECT '{kind}' AS kind, {col}::text AS id, app, started_at, {left} AS leftover,"
            f" {how} AS how, alive_key IS NULL AS by_age FROM {table} WHERE {_DEAD}"
            for kind, (table, col, left, how, _) in _TABLES.items()
        ]
        return self.fetch(DeadRun, f"WITH {_HELD} " + " UNION ALL ".join(parts)
                          + " ORDER BY started_at", {"app": app, "legacy": legacy_seconds})

    def fail_dead(self, run: DeadRun, error: str, scratch_dropped: bool = False) -> bool:
        """Mark a dead run failed with `error`, unless it is no longer running (it finished
        after it was found). True when this call failed it. scratch_dropped: a drill's."""
        table, col, _, _, failed = _TABLES[run.kind]
        also = _ALSO[run.kind]
        with self.cursor() as cur:
            cur.execute(
                f"UPDATE {table} SET status = %s, error = %s, finished_at = now(){also}"
                f" WHERE {col} = %s AND status = 'running' RETURNING 1",
                (failed, error, *([scratch_dropped] if run.kind == KIND_DRILL else []),
                 run.id if run.kind == KIND_BACKUP else int(run.id)),
            )
            return cur.fetchone() is not None

    def running_backup_ids(self) -> list[str]:
        """Backups still running (alive, or of before alive keys and not yet too old)."""
        with self.cursor() as cur:
            cur.execute(f"SELECT backup_id FROM dr.backups WHERE status = '{BackupStatus.RUNNING}'")
            return [r["backup_id"] for r in cur.fetchall()]


# What else a failed row says: a backup's and a restore's duration; a drill's restore was
# never timed, and its scratch is not known to be gone.
_ALSO = {KIND_BACKUP: ", duration_seconds = extract(epoch FROM now() - started_at), updated_at = now()",
         KIND_RESTORE: ", duration_seconds = extract(epoch FROM now() - started_at)",
         KIND_DRILL: ", rto_met = false, scratch_dropped = %s"}
