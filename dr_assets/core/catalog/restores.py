"""Catalog records of restores (on demand and in place)."""

from __future__ import annotations

from dr_assets.core.catalog.connection import CatalogConnection
from dr_assets.core.catalog.rows import RestoreRow
from dr_assets.core.statuses import RestoreStatus


class RestoreRecords(CatalogConnection):
    def begin_restore(self, backup_id: str, app: str, target: str, mode: str,
                      requested_by: str | None, run_id: str | None,
                      alive_key: int | None = None) -> int:
        """alive_key: the key the restore's process holds while it runs (liveness.py)."""
        with self.cursor() as cur:
            cur.execute(
                "INSERT INTO dr.restores (backup_id, app, target_database, mode, status,"
                " requested_by, dagster_run_id, alive_key) VALUES (%s, %s, %s, %s, %s, %s, %s,"
                " %s) RETURNING id",
                (backup_id, app, target, mode, RestoreStatus.RUNNING, requested_by, run_id,
                 alive_key),
            )
            row = cur.fetchone()
            assert row is not None
            return int(row["id"])

    def finish_restore(self, restore_id: int, ok: bool, seconds: float, source: str | None,
                       rows_validated: bool, error: str | None) -> None:
        with self.cursor() as cur:
            cur.execute(
                "UPDATE dr.restores SET status = %s, finished_at = now(), duration_seconds = %s,"
                " source_destination = %s, rows_validated = %s, error = %s WHERE id = %s",
                (RestoreStatus.SUCCEEDED if ok else RestoreStatus.FAILED, seconds, source,
                 rows_validated, error, restore_id),
            )

    def list_restores(self, limit: int = 100) -> list[RestoreRow]:
        return self.fetch(RestoreRow, "SELECT * FROM dr.restores ORDER BY started_at DESC LIMIT %s",
                          (limit,))
