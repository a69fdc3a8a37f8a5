"""Catalog records of restore drills."""

from __future__ import annotations

from dr_assets.core.catalog.connection import CatalogConnection
from dr_assets.core.catalog.rows import DrillRow
from dr_assets.core.statuses import DrillStatus


class DrillRecords(CatalogConnection):
    def begin_drill(self, app: str, backup_id: str | None, scratch: str, rto_seconds: float,
                    run_id: str | None, target: str, recovery_target: str | None = None,
                    alive_key: int | None = None) -> int:
        """recovery_target: a point-in-time drill's restore point (backup_id is then the
        base backup recovery started from, not a row of dr.backups). alive_key: the key
        the drill's process holds while it runs (liveness.py)."""
        with self.cursor() as cur:
            cur.execute(
                "INSERT INTO dr.drills (app, backup_id, scratch_database, status, rto_seconds,"
                " dagster_run_id, target, recovery_target, alive_key) VALUES (%s, %s, %s, %s,"
                " %s, %s, %s, %s, %s) RETURNING id",
                (app, backup_id, scratch, DrillStatus.RUNNING, rto_seconds, run_id, target,
                 recovery_target, alive_key),
            )
            row = cur.fetchone()
            assert row is not None
            return int(row["id"])

    def finish_drill(self, drill_id: int, *, passed: bool, restore_seconds: float | None,
                     rto_met: bool | None, rows_validated: bool, tables: int | None,
                     rows: int | None, scratch_dropped: bool, error: str | None,
                     instance_start_seconds: float | None = None,
                     server_version: str | None = None) -> None:
        """instance_start_seconds and server_version: of the throwaway server an isolated
        drill started (not counted in restore_seconds)."""
        with self.cursor() as cur:
            cur.execute(
                "UPDATE dr.drills SET status = %s, finished_at = now(), restore_seconds = %s,"
                " rto_met = %s, rows_validated = %s, tables = %s, row_total = %s,"
                " scratch_dropped = %s, error = %s, instance_start_seconds = %s,"
                " server_version = %s WHERE id = %s",
                (DrillStatus.PASSED if passed else DrillStatus.FAILED, restore_seconds, rto_met,
                 rows_validated, tables, rows, scratch_dropped, error, instance_start_seconds,
                 server_version, drill_id),
            )

    def list_drills(self, app: str | None = None, limit: int = 100) -> list[DrillRow]:
        return self.fetch(
            DrillRow,
            "SELECT * FROM dr.drills WHERE (%s::text IS NULL OR app = %s)"
            " ORDER BY started_at DESC, id DESC LIMIT %s",
            (app, app, limit),
        )
