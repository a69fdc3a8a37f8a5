"""Catalog records of backups, their copies and checksum verifications, and restores."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import psycopg2.extras

from dr_assets.core.catalog.connection import CatalogConnection
from dr_assets.core.catalog.rows import BackupCheckRow, BackupRow
from dr_assets.core.catalog.status_sql import VALID
from dr_assets.core.format.manifest import BackupManifest, parse_time
from dr_assets.core.statuses import BackupStatus, CopyStatus


def backup_select(with_manifest: bool) -> str:
    """A backup as BackupRow reads it: its columns, two facts of its manifest (or all of it),
    and its copies aggregated in the same statement."""
    manifest = "b.manifest" if with_manifest else "NULL::jsonb AS manifest"
    return f"""
    SELECT b.backup_id, b.app, b.status, b.started_at, b.finished_at, b.duration_seconds,
           b.raw_bytes, b.stored_bytes, b.sha256, b.key_id, b.dagster_run_id, b.partition_key,
           b.error, b.verified, b.held, b.held_reason,
           b.manifest #>> '{{source,server_version}}' AS server_version,
           b.manifest #>> '{{source,pg_dump_version}}' AS pg_dump_version, {manifest},
           coalesce((SELECT jsonb_object_agg(bc.destination,
            jsonb_build_object('status', bc.status, 'stored_bytes', bc.stored_bytes,
              'location', bc.location, 'error', bc.error, 'verified_at', bc.verified_at,
              'verified_ok', bc.verified_ok, 'verify_error', bc.verify_error))
            FROM dr.backup_copies bc WHERE bc.backup_id = b.backup_id), '{{}}'::jsonb) AS copies
    FROM dr.backups b"""


# Listings (the API's) leave the manifest out: the restore paths read it one backup at a time.
BACKUP_LISTING = backup_select(with_manifest=False)
BACKUP_FULL = backup_select(with_manifest=True)


def backup_filter(app: str | None = None, statuses: Sequence[str] | None = None,
                  backup_ids: Sequence[str] | None = None, since: datetime | None = None,
                  include_deleted: bool = False) -> tuple[str, list[Any]]:
    """The WHERE condition (and its arguments) of the backup reads."""
    where: list[str] = []
    args: list[Any] = []
    if not include_deleted:
        where.append(f"b.status <> '{BackupStatus.DELETED}'")  # as the listing index has it
    if app:
        where.append("b.app = %s")
        args.append(app)
    if statuses:
        where.append("b.status = ANY(%s)")
        args.append(list(statuses))
    if backup_ids is not None:
        where.append("b.backup_id = ANY(%s)")
        args.append(list(backup_ids))
    if since:
        where.append("b.started_at >= %s")
        args.append(since)
    return " AND ".join(where) or "TRUE", args


def read_backups(cur: psycopg2.extras.RealDictCursor, select: str, where: tuple[str, list[Any]],
                 *, after: tuple[datetime, str] | None = None, limit: int | None = None
                 ) -> list[BackupRow]:
    """Newest first; `after` is a (started_at, backup_id) keyset cursor."""
    cond, args = where
    if after:
        cond += " AND (b.started_at, b.backup_id) < (%s, %s)"
        args = [*args, *after]
    query = f"{select} WHERE {cond} ORDER BY b.started_at DESC, b.backup_id DESC"
    if limit:
        query += f" LIMIT {int(limit)}"
    cur.execute(query, args)
    return [BackupRow.from_record(r) for r in cur.fetchall()]


class BackupRecords(CatalogConnection):
    def begin_backup(self, backup_id: str, app: str, started_at: datetime,
                     run_id: str | None, partition: str | None,
                     alive_key: int | None = None) -> None:
        """alive_key: the key the backup's process holds while it runs (liveness.py)."""
        with self.cursor() as cur:
            cur.execute(
                "INSERT INTO dr.backups (backup_id, app, status, started_at, dagster_run_id,"
                " partition_key, alive_key) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (backup_id, app, BackupStatus.RUNNING, started_at, run_id, partition, alive_key),
            )

    def fail_backup(self, backup_id: str, error: str, finished_at: datetime) -> None:
        with self.cursor() as cur:
            cur.execute(
                "UPDATE dr.backups SET status = %s, error = %s, finished_at = %s,"
                " duration_seconds = extract(epoch FROM %s - started_at), updated_at = now()"
                " WHERE backup_id = %s",
                (BackupStatus.FAILED, error, finished_at, finished_at, backup_id),
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
                (BackupStatus.DELETED, reason, backup_id),
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
        with_manifests: bool = True,
    ) -> list[BackupRow]:
        """Backups, with their manifests unless with_manifests is False (callers that need
        only ids, statuses and copies spare the catalog reading every manifest); deleted
        ones only with include_deleted."""
        where = backup_filter(app, statuses, backup_ids, include_deleted=include_deleted)
        with self.cursor() as cur:
            return read_backups(cur, BACKUP_FULL if with_manifests else BACKUP_LISTING, where,
                                limit=limit)

    def page_backups(self, app: str | None, status: str | None, since: datetime | None,
                     first: int, after: tuple[datetime, str] | None
                     ) -> tuple[list[BackupRow], int]:
        """Keyset pagination, newest first; returns one extra row to tell if more follow."""
        where = backup_filter(app, [status] if status else None, since=since)
        with self.cursor() as cur:
            if since is None:  # the per-app totals hold the count (dr.backups holds the rows)
                totals = backup_filter(app, [status] if status else None)
                cur.execute("SELECT coalesce(sum(b.backups), 0) AS n FROM dr.backup_totals b"
                            f" WHERE {totals[0]}", totals[1])
            else:
                cur.execute(f"SELECT count(*) AS n FROM dr.backups b WHERE {where[0]}", where[1])
            row = cur.fetchone()
            total = int(row["n"]) if row else 0
            return read_backups(cur, BACKUP_LISTING, where, after=after, limit=first + 1), total

    def backup_row(self, backup_id: str) -> BackupRow | None:
        """One backup as the API shows it (without its manifest), unless deleted."""
        with self.cursor() as cur:
            rows = read_backups(cur, BACKUP_LISTING, backup_filter(backup_ids=[backup_id]))
        return rows[0] if rows else None

    def newest_verified(self, app: str, at_or_before: datetime | None = None) -> BackupRow | None:
        """The newest valid backup whose stored copy passed a checksum verification."""
        with self.cursor() as cur:
            cur.execute(
                "SELECT backup_id FROM dr.backup_checks WHERE app = %s"
                f" AND status IN {VALID} AND verified"
                " AND (%s::timestamptz IS NULL OR started_at <= %s::timestamptz)"
                " ORDER BY started_at DESC, backup_id DESC LIMIT 1",
                (app, at_or_before, at_or_before),
            )
            row = cur.fetchone()
        return self.get_backup(row["backup_id"]) if row else None

    def retention_rows(self, app: str) -> list[BackupCheckRow]:
        """Valid backups of an app with whether each passed a checksum verification."""
        return self.fetch(
            BackupCheckRow,
            "SELECT backup_id, app, status, started_at, stored_bytes, error, verified,"
            " check_failed, held, held_reason FROM dr.backups WHERE app = %s"
            f" AND status IN {VALID}"
            " ORDER BY started_at DESC",
            (app,),
        )


def _degraded_reason(manifest: BackupManifest) -> str | None:
    failed = {n: d.error for n, d in manifest.destinations.items() if d.status != CopyStatus.OK}
    if not failed:
        return None
    return "; ".join(f"{n}: {e}" for n, e in failed.items())
