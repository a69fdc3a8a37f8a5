"""Evidence for compliance reports: what happened in a period, read as typed rows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from dr_assets.core.catalog.connection import CatalogConnection
from dr_assets.core.catalog.rows import (
    AlertRow,
    AuditRow,
    BackupCheckRow,
    DeletionRow,
    DrillRow,
    RestoreRow,
    VerificationRow,
)
from dr_assets.core.catalog.status_sql import ONCE_VALID
from dr_assets.core.statuses import BackupStatus, DrillStatus


class EvidenceRecords(CatalogConnection):
    def evidence_backups(self, apps: Sequence[str], start: datetime, end: datetime
                         ) -> list[BackupCheckRow]:
        """Backups started in [start, end), each with whether it passed a checksum check (a
        deleted backup was valid until retention or sync removed it: it still counts)."""
        return self.fetch(
            BackupCheckRow,
            f"""SELECT b.backup_id, b.app, b.status, b.started_at, b.stored_bytes, b.error,
                       c.verified AND b.status IN {ONCE_VALID} AS verified, c.check_failed
                FROM dr.backups b JOIN dr.backup_checks c USING (backup_id)
                WHERE b.app = ANY(%(apps)s) AND b.started_at >= %(start)s
                  AND b.started_at < %(end)s
                ORDER BY b.app, b.started_at, b.backup_id""",
            {"apps": list(apps), "start": start, "end": end})

    def evidence_verifications(self, apps: Sequence[str], start: datetime, end: datetime
                               ) -> list[VerificationRow]:
        return self.fetch(
            VerificationRow,
            """SELECT v.id, b.app, v.backup_id, v.destination, v.ok, v.checked_at, v.error,
                      v.expected_sha256, v.actual_sha256
               FROM dr.verifications v JOIN dr.backups b USING (backup_id)
               WHERE b.app = ANY(%(apps)s) AND v.checked_at >= %(start)s
                 AND v.checked_at < %(end)s
               ORDER BY v.checked_at, v.id""",
            {"apps": list(apps), "start": start, "end": end})

    def evidence_drills(self, apps: Sequence[str], start: datetime, end: datetime
                        ) -> list[DrillRow]:
        """Finished drills started in the period."""
        return self.fetch(
            DrillRow,
            f"""SELECT * FROM dr.drills WHERE app = ANY(%(apps)s)
                 AND status <> '{DrillStatus.RUNNING}'
                 AND started_at >= %(start)s AND started_at < %(end)s
               ORDER BY started_at, id""",
            {"apps": list(apps), "start": start, "end": end})

    def evidence_wal_receipts(self, servers: Sequence[str], start: datetime, end: datetime
                              ) -> dict[str, list[datetime]]:
        """Per server, when each WAL file recorded as held by a destination was received in
        the period, oldest first, led by the newest one before it (files retention deleted
        since count: they were held then)."""
        with self.cursor() as cur:
            cur.execute(
                """SELECT server, received_at FROM dr.wal_files WHERE server = ANY(%(s)s)
                     AND kind <> 'history' AND received_at >= %(start)s AND received_at < %(end)s
                   UNION ALL
                   SELECT server, max(received_at) FROM dr.wal_files WHERE server = ANY(%(s)s)
                     AND kind <> 'history' AND received_at < %(start)s GROUP BY server
                   ORDER BY 2""",
                {"s": list(servers), "start": start, "end": end})
            out: dict[str, list[datetime]] = {s: [] for s in servers}
            for r in cur.fetchall():
                out[r["server"]].append(r["received_at"])
            return out

    def evidence_deletions(self, apps: Sequence[str], start: datetime, end: datetime
                           ) -> list[DeletionRow]:
        return self.fetch(
            DeletionRow,
            f"""SELECT backup_id, app, started_at, deleted_at, error FROM dr.backups
               WHERE app = ANY(%(apps)s) AND status = '{BackupStatus.DELETED}'
                 AND deleted_at >= %(start)s AND deleted_at < %(end)s
               ORDER BY deleted_at, backup_id""",
            {"apps": list(apps), "start": start, "end": end})

    def evidence_alerts(self, start: datetime, end: datetime) -> list[AlertRow]:
        """Alerts opened or resolved in the period, for every app and the estate."""
        return self.fetch(
            AlertRow,
            """SELECT * FROM dr.alerts
               WHERE (opened_at >= %(start)s AND opened_at < %(end)s)
                  OR (resolved_at >= %(start)s AND resolved_at < %(end)s)
               ORDER BY opened_at, id""",
            {"start": start, "end": end})

    def evidence_restores(self, apps: Sequence[str], start: datetime, end: datetime
                          ) -> list[RestoreRow]:
        """Restores performed (drills' own restores are reported as drills)."""
        return self.fetch(
            RestoreRow,
            """SELECT * FROM dr.restores WHERE app = ANY(%(apps)s) AND mode <> 'DRILL'
                 AND started_at >= %(start)s AND started_at < %(end)s
               ORDER BY started_at, id""",
            {"apps": list(apps), "start": start, "end": end})

    def evidence_restore_requests(self, start: datetime, end: datetime) -> list[AuditRow]:
        """Audit log entries of restoreBackup and restoreToPointInTime: allowed, refused or
        failed."""
        return self.fetch(
            AuditRow,
            """SELECT * FROM dr.audit_log
               WHERE action IN ('restoreBackup', 'restoreToPointInTime')
                 AND at >= %(start)s AND at < %(end)s
               ORDER BY id""",
            {"start": start, "end": end})
