"""Catalog records of backups, their copies and checksum verifications, and restores."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dr_assets.core.catalog.connection import CatalogConnection
from dr_assets.core.format.manifest import (
    COPY_OK,
    DELETED,
    FAILED,
    RUNNING,
    BackupManifest,
    parse_time,
)


@dataclass(frozen=True)
class BackupRow:
    backup_id: str
    app: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    duration_seconds: float | None
    raw_bytes: int | None
    stored_bytes: int | None
    sha256: str | None
    dagster_run_id: str | None
    partition_key: str | None
    error: str | None
    manifest: dict[str, Any] | None
    copies: dict[str, dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "manifest"}
        for key in ("started_at", "finished_at"):
            value = out[key]
            out[key] = value.isoformat() if value else None
        return out


class BackupRecords(CatalogConnection):
    def begin_backup(self, backup_id: str, app: str, started_at: datetime,
                     run_id: str | None, partition: str | None) -> None:
        with self.cursor() as cur:
            cur.execute(
                "INSERT INTO dr.backups (backup_id, app, status, started_at, dagster_run_id,"
                " partition_key) VALUES (%s, %s, %s, %s, %s, %s)",
                (backup_id, app, RUNNING, started_at, run_id, partition),
            )

    def fail_backup(self, backup_id: str, error: str, finished_at: datetime) -> None:
        with self.cursor() as cur:
            cur.execute(
                "UPDATE dr.backups SET status = %s, error = %s, finished_at = %s,"
                " duration_seconds = extract(epoch FROM %s - started_at), updated_at = now()"
                " WHERE backup_id = %s",
                (FAILED, error, finished_at, finished_at, backup_id),
            )

    def record_manifest(self, manifest: BackupManifest) -> None:
        """Insert or update a backup and its copies from its manifest (used by sync too)."""
        body = manifest.to_dict()
        with self.cursor() as cur:
            cur.execute(
                """
                INSERT INTO dr.backups (backup_id, app, status, started_at, finished_at,
                    duration_seconds, raw_bytes, stored_bytes, sha256, key_id, dagster_run_id,
                    partition_key, row_counts, manifest, error, updated_at)
                VALUES (%(id)s, %(app)s, %(status)s, %(started)s, %(finished)s, %(dur)s, %(raw)s,
                    %(stored)s, %(sha)s, %(key)s, %(run)s, %(part)s, %(rows)s, %(manifest)s,
                    %(error)s, now())
                ON CONFLICT (backup_id) DO UPDATE SET status = EXCLUDED.status,
                    finished_at = EXCLUDED.finished_at, duration_seconds = EXCLUDED.duration_seconds,
                    raw_bytes = EXCLUDED.raw_bytes, stored_bytes = EXCLUDED.stored_bytes,
                    sha256 = EXCLUDED.sha256, key_id = EXCLUDED.key_id,
                    dagster_run_id = coalesce(EXCLUDED.dagster_run_id, dr.backups.dagster_run_id),
                    partition_key = coalesce(EXCLUDED.partition_key, dr.backups.partition_key),
                    row_counts = EXCLUDED.row_counts, manifest = EXCLUDED.manifest,
                    error = EXCLUDED.error, updated_at = now()
                """,
                {
                    "id": manifest.backup_id, "app": manifest.app, "status": manifest.status,
                    "started": manifest.started, "finished": manifest.finished,
                    "dur": (manifest.finished - manifest.started).total_seconds(),
                    "raw": manifest.raw_bytes, "stored": manifest.stored_bytes,
                    "sha": manifest.sha256, "key": manifest.encryption.key_id,
                    "run": manifest.dagster_run_id, "part": manifest.dagster_partition,
                    "rows": json.dumps(manifest.row_counts), "manifest": json.dumps(body),
                    "error": _degraded_reason(manifest),
                },
            )
            for name, dest in manifest.destinations.items():
                cur.execute(
                    """
                    INSERT INTO dr.backup_copies (backup_id, destination, status, stored_bytes,
                        location, error, uploaded_at)
                    VALUES (%s, %s, %s, %s, %s, %s, %s)
                    ON CONFLICT (backup_id, destination) DO UPDATE SET status = EXCLUDED.status,
                        stored_bytes = EXCLUDED.stored_bytes, location = EXCLUDED.location,
                        error = EXCLUDED.error, uploaded_at = EXCLUDED.uploaded_at
                    """,
                    (manifest.backup_id, name, dest.status, dest.stored_bytes, dest.location,
                     dest.error, parse_time(dest.uploaded_at) if dest.uploaded_at else None),
                )

    def mark_deleted(self, backup_id: str, reason: str) -> None:
        with self.cursor() as cur:
            cur.execute(
                "UPDATE dr.backups SET status = %s, error = %s, deleted_at = now(), updated_at = now()"
                " WHERE backup_id = %s",
                (DELETED, reason, backup_id),
            )

    def record_verification(self, backup_id: str, destination: str, ok: bool,
                            expected: str, actual: str | None, error: str | None) -> None:
        with self.cursor() as cur:
            cur.execute(
                "INSERT INTO dr.verifications (backup_id, destination, ok, expected_sha256,"
                " actual_sha256, error) VALUES (%s, %s, %s, %s, %s, %s)",
                (backup_id, destination, ok, expected, actual, error),
            )
            cur.execute(
                "UPDATE dr.backup_copies SET verified_at = now(), verified_ok = %s,"
                " verify_error = %s WHERE backup_id = %s AND destination = %s",
                (ok, error, backup_id, destination),
            )
            cur.execute(
                "UPDATE dr.backups b SET verified = s.verified, check_failed = s.check_failed,"
                " checks = s.checks FROM (SELECT coalesce(bool_or(verified_ok), false) AS verified,"
                " coalesce(bool_or(NOT verified_ok), false) AS check_failed,"
                " count(verified_at) AS checks FROM dr.backup_copies WHERE backup_id = %s) s"
                " WHERE b.backup_id = %s",
                (backup_id, backup_id),
            )

    def get_backup(self, backup_id: str) -> BackupRow | None:
        rows = self.list_backups(backup_ids=[backup_id], include_deleted=True)
        return rows[0] if rows else None

    def list_backups(
        self,
        app: str | None = None,
        statuses: Sequence[str] | None = None,
        backup_ids: Sequence[str] | None = None,
        include_deleted: bool = False,
        limit: int | None = None,
    ) -> list[BackupRow]:
        where: list[str] = ["TRUE"]
        args: list[Any] = []
        if app:
            where.append("b.app = %s")
            args.append(app)
        if statuses:
            where.append("b.status = ANY(%s)")
            args.append(list(statuses))
        elif not include_deleted:
            where.append("b.status <> 'deleted'")
        if backup_ids is not None:
            where.append("b.backup_id = ANY(%s)")
            args.append(list(backup_ids))
        query = f"""
            SELECT b.*, coalesce(jsonb_object_agg(c.destination, jsonb_build_object(
                       'status', c.status, 'stored_bytes', c.stored_bytes,
                       'location', c.location, 'error', c.error,
                       'verified_at', c.verified_at, 'verified_ok', c.verified_ok,
                       'verify_error', c.verify_error))
                     FILTER (WHERE c.destination IS NOT NULL), '{{}}'::jsonb) AS copies
            FROM dr.backups b LEFT JOIN dr.backup_copies c USING (backup_id)
            WHERE {" AND ".join(where)}
            GROUP BY b.backup_id
            ORDER BY b.started_at DESC, b.backup_id DESC
        """
        if limit:
            query += f" LIMIT {int(limit)}"
        with self.cursor() as cur:
            cur.execute(query, args)
            return [
                BackupRow(
                    backup_id=r["backup_id"], app=r["app"], status=r["status"],
                    started_at=r["started_at"], finished_at=r["finished_at"],
                    duration_seconds=r["duration_seconds"], raw_bytes=r["raw_bytes"],
                    stored_bytes=r["stored_bytes"], sha256=r["sha256"],
                    dagster_run_id=r["dagster_run_id"], partition_key=r["partition_key"],
                    error=r["error"], manifest=r["manifest"], copies=r["copies"],
                )
                for r in cur.fetchall()
            ]

    def stale_running(self, older_than_seconds: float) -> list[str]:
        with self.cursor() as cur:
            cur.execute(
                "SELECT backup_id FROM dr.backups WHERE status = 'running'"
                " AND started_at < now() - make_interval(secs => %s)",
                (older_than_seconds,),
            )
            return [r["backup_id"] for r in cur.fetchall()]


    def newest_verified(self, app: str, at_or_before: datetime | None = None) -> BackupRow | None:
        """The newest valid backup whose stored copy passed a checksum verification."""
        with self.cursor() as cur:
            cur.execute(
                "SELECT backup_id FROM dr.backup_checks WHERE app = %s"
                " AND status IN ('completed', 'degraded') AND verified"
                " AND (%s::timestamptz IS NULL OR started_at <= %s::timestamptz)"
                " ORDER BY started_at DESC, backup_id DESC LIMIT 1",
                (app, at_or_before, at_or_before),
            )
            row = cur.fetchone()
        return self.get_backup(row["backup_id"]) if row else None

    def retention_rows(self, app: str) -> list[dict[str, Any]]:
        """Valid backups of an app with whether each passed a checksum verification."""
        with self.cursor() as cur:
            cur.execute(
                "SELECT backup_id, started_at, stored_bytes, verified, check_failed"
                " FROM dr.backup_checks WHERE app = %s AND status IN ('completed', 'degraded')"
                " ORDER BY started_at DESC",
                (app,),
            )
            return [dict(r) for r in cur.fetchall()]


def _degraded_reason(manifest: BackupManifest) -> str | None:
    failed = {n: d.error for n, d in manifest.destinations.items() if d.status != COPY_OK}
    if not failed:
        return None
    return "; ".join(f"{n}: {e}" for n, e in failed.items())
