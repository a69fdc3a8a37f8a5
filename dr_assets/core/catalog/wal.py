"""Catalog records of continuous protection: WAL files held by the stores, base backups of
whole servers, and restore points. The stores stay the truth (the recoverable window is
computed from them); these rows make the RPO, the dashboards and the alerts cheap."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime

from psycopg2.extras import Json

from dr_assets.core.catalog.connection import CatalogConnection
from dr_assets.core.catalog.rows import BaseBackupRow, RestorePointRow, WalFileRow
from dr_assets.core.statuses import BackupStatus


class WalRecords(CatalogConnection):
    def record_wal_file(self, server: str, name: str, kind: str, timeline: int,
                        received_at: datetime, raw_bytes: int, raw_sha256: str,
                        held_by: Sequence[str], written_bytes: int | None = None) -> None:
        """A WAL file now held by `held_by`; a completed segment removes its partial row."""
        with self.cursor() as cur:
            cur.execute(
                "INSERT INTO dr.wal_files (server, name, kind, timeline, received_at, raw_bytes,"
                " written_bytes, raw_sha256, held_by) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s)"
                " ON CONFLICT (server, name) DO UPDATE SET received_at = EXCLUDED.received_at,"
                " stored_at = now(), raw_bytes = EXCLUDED.raw_bytes,"
                " written_bytes = EXCLUDED.written_bytes, raw_sha256 = EXCLUDED.raw_sha256,"
                " held_by = (SELECT array_agg(DISTINCT h) FROM unnest(dr.wal_files.held_by"
                " || EXCLUDED.held_by) h), deleted_at = NULL",
                (server, name, kind, timeline, received_at, raw_bytes, written_bytes,
                 raw_sha256, list(held_by)),
            )
            if kind == "segment":
                cur.execute("DELETE FROM dr.wal_files WHERE server = %s AND name = %s",
                            (server, f"{name}.partial"))

    def newest_wal(self, server: str) -> WalFileRow | None:
        """The WAL file holding the newest bytes a store has (what the RPO is measured by)."""
        rows = self.fetch(WalFileRow, "SELECT * FROM dr.wal_files WHERE server = %s AND kind <>"
                          " 'history' AND deleted_at IS NULL ORDER BY received_at DESC LIMIT 1",
                          (server,))
        return rows[0] if rows else None

    def newest_wal_times(self) -> dict[str, datetime]:
        """Per server: when the newest WAL byte any store holds was received."""
        with self.cursor() as cur:
            cur.execute("SELECT server, max(received_at) AS at FROM dr.wal_files WHERE"
                        " kind <> 'history' AND deleted_at IS NULL GROUP BY server")
            return {r["server"]: r["at"] for r in cur.fetchall()}

    def list_wal_files(self, server: str, limit: int = 1000) -> list[WalFileRow]:
        return self.fetch(WalFileRow, "SELECT * FROM dr.wal_files WHERE server = %s AND"
                          " deleted_at IS NULL ORDER BY name DESC LIMIT %s", (server, limit))

    def mark_wal_deleted(self, server: str, names: Sequence[str]) -> None:
        with self.cursor() as cur:
            cur.execute("UPDATE dr.wal_files SET deleted_at = now() WHERE server = %s AND"
                        " name = ANY(%s)", (server, list(names)))

    # base backups

    def begin_base_backup(self, backup_id: str, server: str, started_at: datetime,
                          run_id: str | None, partition: str | None) -> None:
        with self.cursor() as cur:
            cur.execute(
                "INSERT INTO dr.base_backups (backup_id, server, status, started_at,"
                " dagster_run_id, partition_key) VALUES (%s,%s,%s,%s,%s,%s)",
                (backup_id, server, BackupStatus.RUNNING, started_at, run_id, partition),
            )

    def fail_base_backup(self, backup_id: str, error: str, at: datetime) -> None:
        with self.cursor() as cur:
            cur.execute("UPDATE dr.base_backups SET status = %s, error = %s, finished_at = %s"
                        " WHERE backup_id = %s AND status = %s",
                        (BackupStatus.FAILED, error, at, backup_id, BackupStatus.RUNNING))

    def record_base_backup(self, manifest: Mapping[str, object]) -> None:
        """Upsert from a base backup's manifest (as written to the stores)."""
        m = dict(manifest)
        with self.cursor() as cur:
            cur.execute(
                "INSERT INTO dr.base_backups (backup_id, server, status, started_at, finished_at,"
                " timeline, start_lsn, stop_lsn, raw_bytes, stored_bytes, sha256, server_version,"
                " dagster_run_id, partition_key, manifest) VALUES (%(backup_id)s, %(server)s,"
                " %(status)s, %(started_at)s, %(finished_at)s, %(timeline)s, %(start_lsn)s,"
                " %(stop_lsn)s, %(raw_bytes)s, %(stored_bytes)s, %(sha256)s, %(server_version)s,"
                " %(dagster_run_id)s, %(dagster_partition)s, %(manifest)s)"
                " ON CONFLICT (backup_id) DO UPDATE SET status = EXCLUDED.status,"
                " finished_at = EXCLUDED.finished_at, timeline = EXCLUDED.timeline,"
                " start_lsn = EXCLUDED.start_lsn, stop_lsn = EXCLUDED.stop_lsn,"
                " raw_bytes = EXCLUDED.raw_bytes, stored_bytes = EXCLUDED.stored_bytes,"
                " sha256 = EXCLUDED.sha256, server_version = EXCLUDED.server_version,"
                " manifest = EXCLUDED.manifest, error = NULL",
                {**{k: m.get(k) for k in ("backup_id", "server", "status", "started_at",
                                          "finished_at", "timeline", "start_lsn", "stop_lsn",
                                          "raw_bytes", "stored_bytes", "sha256",
                                          "server_version", "dagster_run_id",
                                          "dagster_partition")},
                 "manifest": Json(json.loads(json.dumps(m, default=str)))},
            )

    def mark_base_backup_deleted(self, backup_id: str) -> None:
        with self.cursor() as cur:
            cur.execute("UPDATE dr.base_backups SET status = %s, deleted_at = now() WHERE"
                        " backup_id = %s", (BackupStatus.DELETED, backup_id))

    def list_base_backups(self, server: str | None = None, include_deleted: bool = False,
                          limit: int = 500) -> list[BaseBackupRow]:
        return self.fetch(
            BaseBackupRow,
            "SELECT * FROM dr.base_backups WHERE (%s::text IS NULL OR server = %s) AND"
            " (%s OR status <> 'deleted') ORDER BY started_at DESC LIMIT %s",
            (server, server, include_deleted, limit),
        )

    # restore points

    def record_restore_point(self, server: str, name: str, lsn: str, timeline: int,
                             created_at: datetime, row_counts: Mapping[str, Mapping[str, int]]
                             ) -> None:
        with self.cursor() as cur:
            cur.execute(
                "INSERT INTO dr.restore_points (server, name, lsn, timeline, created_at,"
                " row_counts) VALUES (%s,%s,%s,%s,%s,%s) ON CONFLICT DO NOTHING",
                (server, name, lsn, timeline, created_at, Json(dict(row_counts))),
            )

    def list_restore_points(self, server: str, since: datetime | None = None,
                            limit: int = 1000) -> list[RestorePointRow]:
        return self.fetch(
            RestorePointRow,
            "SELECT * FROM dr.restore_points WHERE server = %s AND (%s::timestamptz IS NULL OR"
            " created_at >= %s) ORDER BY created_at DESC LIMIT %s",
            (server, since, since, limit),
        )

    def restore_point(self, server: str, name: str) -> RestorePointRow | None:
        rows = self.fetch(RestorePointRow,
                          "SELECT * FROM dr.restore_points WHERE server = %s AND name = %s",
                          (server, name))
        return rows[0] if rows else None
