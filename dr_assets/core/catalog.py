"""The SQL catalog (schema ``dr``): an index of backups, copies, checks and restores.

The stores are the truth; this index is kept in step on every write and can be rebuilt
from the manifests by ``drctl catalog sync``.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg2
import psycopg2.extensions
import psycopg2.extras
from psycopg2 import sql

from dr_assets.core.errors import CatalogError, LockBusy, ToolError
from dr_assets.core.manifest import (
    COPY_OK,
    DELETED,
    FAILED,
    RUNNING,
    BackupManifest,
    parse_time,
)
from dr_assets.core.pgtools import ConnInfo, connect, connection

MIGRATIONS: list[str] = [
    # 1: backups, their copies, verifications and restores
    """
    CREATE TABLE dr.backups (
        backup_id        text PRIMARY KEY,
        app              text NOT NULL,
        status           text NOT NULL
                         CHECK (status IN ('running','completed','degraded','failed','deleted')),
        started_at       timestamptz NOT NULL,
        finished_at      timestamptz,
        duration_seconds double precision,
        raw_bytes        bigint,
        stored_bytes     bigint,
        sha256           text,
        key_id           text,
        dagster_run_id   text,
        partition_key    text,
        row_counts       jsonb,
        manifest         jsonb,
        error            text,
        updated_at       timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX backups_app_started ON dr.backups (app, started_at DESC);
    CREATE INDEX backups_started ON dr.backups (started_at DESC);
    CREATE TABLE dr.backup_copies (
        backup_id    text NOT NULL REFERENCES dr.backups ON DELETE CASCADE,
        destination  text NOT NULL,
        status       text NOT NULL CHECK (status IN ('ok','failed')),
        stored_bytes bigint,
        location     text,
        error        text,
        uploaded_at  timestamptz,
        verified_at  timestamptz,
        verified_ok  boolean,
        verify_error text,
        PRIMARY KEY (backup_id, destination)
    );
    CREATE TABLE dr.verifications (
        id              bigserial PRIMARY KEY,
        backup_id       text NOT NULL,
        destination     text NOT NULL,
        ok              boolean NOT NULL,
        expected_sha256 text,
        actual_sha256   text,
        error           text,
        checked_at      timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX verifications_backup ON dr.verifications (backup_id, checked_at DESC);
    CREATE TABLE dr.restores (
        id                 bigserial PRIMARY KEY,
        backup_id          text NOT NULL,
        app                text NOT NULL,
        target_database    text NOT NULL,
        mode               text NOT NULL,
        status             text NOT NULL CHECK (status IN ('running','succeeded','failed')),
        started_at         timestamptz NOT NULL DEFAULT now(),
        finished_at        timestamptz,
        duration_seconds   double precision,
        source_destination text,
        rows_validated     boolean,
        error              text,
        requested_by       text,
        dagster_run_id     text
    );
    CREATE INDEX restores_started ON dr.restores (started_at DESC);
    """,
]


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


class Catalog:
    """Short-lived connections per operation: the catalog is touched a few times per backup."""

    def __init__(self, url: str) -> None:
        self.info = ConnInfo.parse(url)
        self._ready = False

    # -- setup ----------------------------------------------------------------------------
    def ensure(self) -> None:
        if self._ready:
            return
        try:
            conn = connect(self.info)
        except ToolError as exc:
            if f'database "{self.info.dbname}" does not exist' not in str(exc):
                raise CatalogError(f"catalog unreachable: {exc}") from None
            self._create_database()
            conn = connect(self.info)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_lock(%s)", (_lock_key("dr-catalog-migrate"),))
                cur.execute("CREATE SCHEMA IF NOT EXISTS dr")
                cur.execute(
                    "CREATE TABLE IF NOT EXISTS dr.schema_version ("
                    " version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
                )
                cur.execute("SELECT coalesce(max(version), 0) FROM dr.schema_version")
                row = cur.fetchone()
                current = int(row[0]) if row else 0
                for version, ddl in enumerate(MIGRATIONS, start=1):
                    if version > current:
                        cur.execute("BEGIN")
                        cur.execute(ddl)
                        cur.execute("INSERT INTO dr.schema_version (version) VALUES (%s)", (version,))
                        cur.execute("COMMIT")
                cur.execute("SELECT pg_advisory_unlock(%s)", (_lock_key("dr-catalog-migrate"),))
        finally:
            conn.close()
        self._ready = True

    def _create_database(self) -> None:
        with (connection(self.info.with_db("postgres")) as conn, conn.cursor() as cur,
              suppress(psycopg2.errors.DuplicateDatabase)):
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.info.dbname)))

    @contextmanager
    def cursor(self) -> Iterator[psycopg2.extras.RealDictCursor]:
        self.ensure()
        try:
            conn = connect(self.info, autocommit=False)
        except ToolError as exc:
            raise CatalogError(f"catalog unreachable: {exc}") from None
        try:
            with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
                yield cur
            conn.commit()
        except Exception:
            conn.rollback()
            raise
        finally:
            conn.close()

    # -- locks ----------------------------------------------------------------------------
    @contextmanager
    def app_lock(self, app: str, action: str = "backup") -> Iterator[None]:
        """One running <action> per app across processes and machines sharing the catalog."""
        self.ensure()
        conn = connect(self.info)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT pg_try_advisory_lock(%s)", (_lock_key(f"{action}:{app}"),))
                row = cur.fetchone()
                if not row or not row[0]:
                    raise LockBusy(f"a {action} of {app} is already running: wait for it to finish")
            yield
        finally:
            conn.close()  # closing the session releases the lock

    # -- backups --------------------------------------------------------------------------
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
                "UPDATE dr.backups SET status = %s, error = %s, updated_at = now()"
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

    # -- restores -------------------------------------------------------------------------
    def begin_restore(self, backup_id: str, app: str, target: str, mode: str,
                      requested_by: str | None, run_id: str | None) -> int:
        with self.cursor() as cur:
            cur.execute(
                "INSERT INTO dr.restores (backup_id, app, target_database, mode, status,"
                " requested_by, dagster_run_id) VALUES (%s, %s, %s, %s, 'running', %s, %s)"
                " RETURNING id",
                (backup_id, app, target, mode, requested_by, run_id),
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
                ("succeeded" if ok else "failed", seconds, source, rows_validated, error,
                 restore_id),
            )

    def list_restores(self, limit: int = 100) -> list[dict[str, Any]]:
        with self.cursor() as cur:
            cur.execute("SELECT * FROM dr.restores ORDER BY started_at DESC LIMIT %s", (limit,))
            return [dict(r) for r in cur.fetchall()]


def _lock_key(name: str) -> int:
    return zlib.crc32(name.encode()) - (1 << 31)


def _degraded_reason(manifest: BackupManifest) -> str | None:
    failed = {n: d.error for n, d in manifest.destinations.items() if d.status != COPY_OK}
    if not failed:
        return None
    return "; ".join(f"{n}: {e}" for n, e in failed.items())
