"""Purging the rows of what retention deleted long ago: backups (with their copies and
checksum verifications), base backups and WAL files deleted before a moment leave the
catalog, in batches; each batch is recorded in the audit log in its own transaction. The
row of a held backup is never purged (retention never deletes one; sync may find one gone
from every store, and its row then stays as the evidence of the hold)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg2.extras

from dr_assets.core.catalog.audit import append_audit
from dr_assets.core.catalog.connection import CatalogConnection
from dr_assets.core.statuses import AuditResult, BackupStatus

PURGE_BATCH = 10_000
PURGE_ACTION = "purgeDeletedRows"
DELETED = f"'{BackupStatus.DELETED}'"  # as the partial index backups_deleted_stored has it

# Oldest deletions first (the backups_deleted_stored and wal_files_deleted indexes' order); rows
# another purge is removing are left to it.
PURGE_BACKUPS = f"""
WITH gone AS (
    SELECT backup_id FROM dr.backups
    WHERE status = {DELETED} AND deleted_at < %(before)s AND app = ANY(%(apps)s) AND NOT held
    ORDER BY deleted_at LIMIT %(batch)s FOR UPDATE SKIP LOCKED
), copies AS (  -- removed with their backup (ON DELETE CASCADE): counted first
    SELECT count(*) AS n FROM dr.backup_copies WHERE backup_id IN (SELECT backup_id FROM gone)
), checks AS (
    DELETE FROM dr.verifications WHERE backup_id IN (SELECT backup_id FROM gone) RETURNING 1
), removed AS (
    DELETE FROM dr.backups WHERE backup_id IN (SELECT backup_id FROM gone)
    RETURNING app, deleted_at
)
SELECT app, count(*) AS n, min(deleted_at) AS first, max(deleted_at) AS last,
       (SELECT n FROM copies) AS copies, (SELECT count(*) FROM checks) AS checks
FROM removed GROUP BY app
"""
PURGE_BASE_BACKUPS = f"""
DELETE FROM dr.base_backups WHERE backup_id IN (
    SELECT backup_id FROM dr.base_backups
    WHERE status = {DELETED} AND deleted_at < %(before)s AND server = ANY(%(servers)s)
    ORDER BY deleted_at LIMIT %(batch)s FOR UPDATE SKIP LOCKED)
RETURNING server, deleted_at
"""
PURGE_WAL = """
WITH gone AS (
    SELECT server, name FROM dr.wal_files
    WHERE deleted_at < %(before)s AND server = ANY(%(servers)s)
    ORDER BY deleted_at LIMIT %(batch)s FOR UPDATE SKIP LOCKED
)
DELETE FROM dr.wal_files w USING gone g WHERE w.server = g.server AND w.name = g.name
RETURNING w.server, w.deleted_at
"""
COUNT_PURGEABLE = f"""
SELECT 'backup' AS kind, app AS owner, count(*) AS n FROM dr.backups
    WHERE status = {DELETED} AND deleted_at < %(before)s AND app = ANY(%(apps)s) AND NOT held
    GROUP BY app
UNION ALL
SELECT 'base_backup', server, count(*) FROM dr.base_backups
    WHERE status = {DELETED} AND deleted_at < %(before)s AND server = ANY(%(servers)s)
    GROUP BY server
UNION ALL
SELECT 'wal_file', server, count(*) FROM dr.wal_files
    WHERE deleted_at < %(before)s AND server = ANY(%(servers)s) GROUP BY server
"""


@dataclass
class PurgedRows:
    """What a purge removed (or, in a preview, would remove)."""

    backups: Counter[str] = field(default_factory=Counter)  # per app
    base_backups: Counter[str] = field(default_factory=Counter)  # per server
    wal_files: Counter[str] = field(default_factory=Counter)  # per server
    copies: int = 0
    verifications: int = 0
    first_deleted: datetime | None = None
    last_deleted: datetime | None = None

    @property
    def empty(self) -> bool:
        return not (self.backups or self.base_backups or self.wal_files)

    def add(self, other: PurgedRows) -> None:
        self.backups += other.backups
        self.base_backups += other.base_backups
        self.wal_files += other.wal_files
        self.copies += other.copies
        self.verifications += other.verifications
        self._saw(other.first_deleted, other.last_deleted)

    def _saw(self, *times: datetime | None) -> None:
        seen = [t for t in (self.first_deleted, self.last_deleted, *times) if t is not None]
        if seen:
            self.first_deleted, self.last_deleted = min(seen), max(seen)

    def describe(self) -> str:
        children = (f" ({self.copies} copies, {self.verifications} checksum verifications)"
                    if self.copies or self.verifications else "")  # a preview counts no children
        parts = [f"the rows of {sum(self.backups.values())} backups{children} of "
                 f"{len(self.backups)} apps"]
        if self.base_backups:
            parts.append(f"{sum(self.base_backups.values())} base backups")
        if self.wal_files:
            parts.append(f"{sum(self.wal_files.values())} WAL files")
        text = ", ".join(parts)
        if self.first_deleted and self.last_deleted:
            text += (f", deleted from {self.first_deleted.isoformat()} to "
                     f"{self.last_deleted.isoformat()}")
        return text


class PurgeRecords(CatalogConnection):
    def purgeable(self, apps: Sequence[str], servers: Sequence[str], before: datetime
                  ) -> PurgedRows:
        """What purge_deleted would remove now (the backups' copies and checks not counted)."""
        out = PurgedRows()
        with self.cursor() as cur:
            cur.execute(COUNT_PURGEABLE, {"apps": list(apps), "servers": list(servers),
                                          "before": before})
            for r in cur.fetchall():
                {"backup": out.backups, "base_backup": out.base_backups,
                 "wal_file": out.wal_files}[r["kind"]][r["owner"]] += int(r["n"])
        return out

    def purge_deleted(self, apps: Sequence[str], servers: Sequence[str], before: datetime,
                      actor: str, role: str, audit_arguments: dict[str, Any],
                      batch: int = PURGE_BATCH) -> PurgedRows:
        """Remove the rows of the apps' backups and the servers' base backups and WAL files
        deleted before `before`, `batch` of each kind per transaction; every transaction
        that removed something appends an audit entry (PURGE_ACTION) saying what."""
        args = {"apps": list(apps), "servers": list(servers), "before": before, "batch": batch}
        total = PurgedRows()
        while True:
            with self.cursor() as cur:
                done = _purge_batch(cur, args)
                if not done.empty:
                    append_audit(cur, actor, role, PURGE_ACTION, audit_arguments,
                                 AuditResult.OK, f"purged {done.describe()}")
            total.add(done)
            full = (max(sum(done.backups.values()), sum(done.base_backups.values()),
                        sum(done.wal_files.values())) >= batch)
            if not full:
                return total


def _purge_batch(cur: psycopg2.extras.RealDictCursor, args: dict[str, Any]) -> PurgedRows:
    done = PurgedRows()
    if args["apps"]:
        cur.execute(PURGE_BACKUPS, args)
        for r in cur.fetchall():
            done.backups[r["app"]] += int(r["n"])
            done.copies, done.verifications = int(r["copies"]), int(r["checks"])
            done._saw(r["first"], r["last"])
    if args["servers"]:
        for statement, counts in ((PURGE_BASE_BACKUPS, done.base_backups),
                                  (PURGE_WAL, done.wal_files)):
            cur.execute(statement, args)
            for r in cur.fetchall():
                counts[r["server"]] += 1
                done._saw(r["deleted_at"])
    return done
