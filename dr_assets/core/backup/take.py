"""Take one backup: pg_dump in a snapshot, streamed through zstd, AES-256-GCM and
SHA-256 into every destination at once, with per-table row counts, the schema fingerprint,
the validation checks' answers and the server objects (roles, database properties,
extensions) read in the same snapshot, the server objects stored beside the dump.

A backup becomes visible only when its manifest is written after its object; a failure
before that leaves no manifest, no object and a catalog row marked failed. Once cataloged,
its contents are compared with the app's recent verified backups (core.anomalies).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import psycopg2
import psycopg2.extensions

from dr_assets.core.anomalies.check import ContentsCheck, check_contents
from dr_assets.core.backup.failures import recorded_failure
from dr_assets.core.catalog import Catalog
from dr_assets.core.copies.dead_runs import settle_dead_runs
from dr_assets.core.copies.publish import publish_manifest
from dr_assets.core.errors import BackupError, StoreError
from dr_assets.core.format.fingerprint import SchemaFingerprint
from dr_assets.core.format.keys import Keyring
from dr_assets.core.format.manifest import (
    BackupManifest,
    DestinationResult,
    EncryptionInfo,
    RecordedAnswer,
    StoredObject,
    iso,
    object_key,
    server_objects_key,
)
from dr_assets.core.format.server_objects import ServerObjects, seal
from dr_assets.core.format.stream import BackupEncoder
from dr_assets.core.names import new_backup_id
from dr_assets.core.pg.binaries import find_tool, tool_version
from dr_assets.core.pg.command import ToolFailed, spawned
from dr_assets.core.pg.conninfo import ConnInfo
from dr_assets.core.pg.databases import count_rows
from dr_assets.core.pg.server_objects import read_server_objects
from dr_assets.core.pg.sessions import connect
from dr_assets.core.policy import DRConfig, ValidationCheck
from dr_assets.core.statuses import CopyStatus
from dr_assets.core.stores.base import Store
from dr_assets.core.stores.mirrored import MirroredWriter
from dr_assets.core.validation.checks import record_answers
from dr_assets.core.validation.schema import take_fingerprint

READ_BLOCK = 1 << 20
Progress = Callable[[int, int, float], None]


@dataclass(frozen=True)
class BackupResult:
    manifest: BackupManifest
    duration_seconds: float
    # The contents check against the app's recent backups (dr_assets.core.anomalies).
    contents: ContentsCheck | None = None

    @property
    def backup_id(self) -> str:
        return self.manifest.backup_id

    @property
    def status(self) -> str:
        return self.manifest.status

    def to_dict(self) -> dict[str, Any]:
        m = self.manifest
        return {
            "backup_id": m.backup_id,
            "app": m.app,
            "status": m.status,
            "started_at": m.started_at,
            "finished_at": m.finished_at,
            "duration_seconds": round(self.duration_seconds, 3),
            "raw_bytes": m.raw_bytes,
            "stored_bytes": m.stored_bytes,
            "sha256": m.sha256,
            "key_id": m.encryption.key_id,
            "row_counts": m.row_counts,
            "destinations": {n: d.__dict__ for n, d in m.destinations.items()},
            "dagster_run_id": m.dagster_run_id,
            "dagster_partition": m.dagster_partition,
            "contents": self.contents.to_dict() if self.contents else None,
        }


@dataclass
class _Snapshot:
    """A REPEATABLE READ transaction whose snapshot pg_dump imports and we read the row
    counts, the schema fingerprint and the checks' answers in."""

    conn: psycopg2.extensions.connection
    snapshot_id: str
    server_version: str
    server_objects: ServerObjects
    counts: dict[str, int] = field(default_factory=dict)
    fingerprint: SchemaFingerprint | None = None
    answers: dict[str, RecordedAnswer] = field(default_factory=dict)
    error: BaseException | None = None

    @classmethod
    def open(cls, info: ConnInfo) -> _Snapshot:
        conn = connect(info, autocommit=False)
        conn.set_session(isolation_level="REPEATABLE READ", readonly=True)
        with conn.cursor() as cur:
            cur.execute("SELECT pg_export_snapshot(), current_setting('server_version')")
            row = cur.fetchone()
        assert row is not None
        try:
            objects = read_server_objects(conn)
        except BaseException:
            conn.close()
            raise
        return cls(conn=conn, snapshot_id=row[0], server_version=row[1], server_objects=objects)

    def read_in_background(self, checks: tuple[ValidationCheck, ...]) -> threading.Thread:
        """Read while pg_dump runs. The fingerprint first: like pg_dump's, some of what it
        reads (pg_get_viewdef and the like) is the newest catalog text, not the snapshot's,
        so it is taken as close to the snapshot's export as it can be."""
        def work() -> None:
            try:
                self.fingerprint = take_fingerprint(self.conn)
                self.counts = count_rows(self.conn)
                self.answers = record_answers(self.conn, checks)
            except BaseException as exc:
                self.error = exc

        thread = threading.Thread(target=work, name="snapshot-reads", daemon=True)
        thread.start()
        return thread

    def close(self) -> None:
        """End the snapshot; a connection the server already cut is fine to lose."""
        with contextlib.suppress(psycopg2.Error):
            self.conn.rollback()
        with contextlib.suppress(psycopg2.Error):
            self.conn.close()


def run_backup(
    config: DRConfig,
    app: str,
    *,
    keyring: Keyring,
    stores: list[Store],
    catalog: Catalog,
    run_id: str | None = None,
    partition: str | None = None,
    progress: Progress | None = None,
) -> BackupResult:
    policy = config.app(app)
    info = ConnInfo.parse(policy.database_url)
    with catalog.app_lock(app, "backup") as alive_key:
        # The lock was free: any backup of the app still `running` is dead; settle it first.
        settle_dead_runs(catalog, stores, app=app, config=config)
        started = datetime.now(UTC)
        backup_id = new_backup_id(app, started)
        catalog.begin_backup(backup_id, app, started, run_id, partition, alive_key)
        with recorded_failure(lambda message, at: catalog.fail_backup(backup_id, message, at),
                              f"backup {backup_id} of {app}"):
            result = _take(config, app, backup_id, started, info, keyring, stores, catalog,
                           run_id, partition, progress)
        # Cataloged: what it holds is compared with the app's history while the app's lock
        # still keeps its other backups out. A failure here is raised as it is; the backup
        # stays cataloged as taken (only the failures above mark it failed).
        return replace(result, contents=check_contents(catalog, result.manifest,
                                                       policy.anomalies))


def _take(
    config: DRConfig, app: str, backup_id: str, started: datetime, info: ConnInfo,
    keyring: Keyring, stores: list[Store], catalog: Catalog, run_id: str | None,
    partition: str | None, progress: Progress | None,
) -> BackupResult:
    t0 = time.monotonic()
    snapshot = _Snapshot.open(info)
    major = int(snapshot.server_version.split(".")[0].split()[0])
    pg_dump = find_tool("pg_dump", major)
    data_key = os.urandom(32)
    master = keyring.current
    encoder = BackupEncoder(data_key, config.encryption.chunk_size, config.zstd_level)
    okey = object_key(backup_id)
    skey = server_objects_key(backup_id)
    sealed = seal(snapshot.server_objects, data_key, config.encryption.chunk_size,
                  config.zstd_level)
    writer = MirroredWriter.open(stores, okey)
    lost: dict[str, str] = {}  # stores that took the dump but not the server objects
    try:
        if not writer.healthy:
            raise BackupError(f"backup {backup_id} of {app}: no destination accepted it: "
                              + "; ".join(writer.errors.values()))
        try:
            with spawned(
                [pg_dump, *info.tool_args(), "-Fc", "-Z0", f"--snapshot={snapshot.snapshot_id}",
                 "--no-password", "-d", info.dbname],
                env=info.tool_env(), stdout=True,
            ) as dump:
                reader = snapshot.read_in_background(config.app(app).validation)
                last_report = 0.0
                while block := dump.stdout.read1(READ_BLOCK):
                    for piece in encoder.write(block):
                        writer.write(piece)
                    if not writer.healthy:
                        raise BackupError(f"backup {backup_id} of {app}: every destination "
                                          "failed: " + "; ".join(writer.errors.values()))
                    if progress and time.monotonic() - last_report > 0.5:
                        last_report = time.monotonic()
                        progress(encoder.raw_bytes, encoder.stored_bytes, last_report - t0)
        except ToolFailed as failed:
            raise BackupError(f"pg_dump of {app} ({info.safe_url}) failed with exit "
                              f"{failed.exit_code}: {failed.last_lines}") from failed
        for piece in encoder.finish():
            writer.write(piece)
        reader.join()
        if snapshot.error is not None:
            raise BackupError(f"reading the row counts and schema of {app} in the dump's "
                              f"snapshot failed: {snapshot.error}")
        writer.commit()
        lost = _store_beside(writer.healthy, skey, sealed.stored, okey)
        if not [s for s in writer.healthy if s.name not in lost]:
            raise BackupError(f"backup {backup_id} of {app}: every destination failed: "
                              + "; ".join([*writer.errors.values(), *lost.values()]))
        if progress:
            progress(encoder.raw_bytes, encoder.stored_bytes, time.monotonic() - t0)
    except BaseException:
        writer.abort()
        snapshot.close()
        raise
    snapshot.close()

    finished = datetime.now(UTC)
    destinations: dict[str, DestinationResult] = {}
    for store in stores:
        if store in writer.healthy and store.name not in lost:
            destinations[store.name] = DestinationResult(
                status=CopyStatus.OK, stored_bytes=encoder.stored_bytes, uploaded_at=iso(finished),
                location=store.describe(okey),
            )
        else:
            destinations[store.name] = DestinationResult(
                status=CopyStatus.FAILED,
                error=writer.errors.get(store.name) or lost.get(store.name, "unknown error"),
                location=store.describe(okey),
            )
    manifest = BackupManifest(
        app=app, backup_id=backup_id, started_at=iso(started), finished_at=iso(finished),
        source_database=info.dbname, source_host=f"{info.host}:{info.port}",
        server_version=snapshot.server_version, pg_dump_version=tool_version(pg_dump),
        encryption=EncryptionInfo(
            key_id=master.key_id, wrapped_key=master.wrap(data_key, backup_id),
            chunk_size=config.encryption.chunk_size,
        ),
        raw_bytes=encoder.raw_bytes, stored_bytes=encoder.stored_bytes, sha256=encoder.sha256,
        row_counts=snapshot.counts, destinations=destinations,
        dagster_run_id=run_id, dagster_partition=partition,
        compression={"algorithm": "zstd", "level": config.zstd_level},
        schema_fingerprint=snapshot.fingerprint, validation_answers=snapshot.answers or None,
        server_objects=StoredObject(skey, sealed.sha256, len(sealed.stored), sealed.raw_bytes),
    )
    manifest = publish_manifest(manifest, stores)
    catalog.record_manifest(manifest)
    return BackupResult(manifest=manifest, duration_seconds=time.monotonic() - t0)


def _store_beside(stores: list[Store], key: str, stored: bytes, dump_key: str) -> dict[str, str]:
    """Put the server objects beside each stored dump; a store that refuses them loses its
    dump too (a copy is whole or it is not a copy). Returns those stores' errors."""
    lost: dict[str, str] = {}
    for store in stores:
        try:
            store.put_bytes(key, stored)
        except StoreError as exc:
            lost[store.name] = str(exc)
            with contextlib.suppress(StoreError):
                store.delete(dump_key)
    return lost
