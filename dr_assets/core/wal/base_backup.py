"""Base backups of a whole server: pg_basebackup's tar stream (`-Ft -D - -X fetch`) through
zstd, AES-256-GCM and SHA-256 into every destination at once, never through a temporary
copy on disk; the manifest written after the object (what makes it visible), the catalog
told; listing the base backups the stores hold and proving their copies intact.

A failure before the manifest leaves no manifest and a catalog row marked failed; a
destination that fails is dropped (the backup is degraded), every one failing is fatal.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from dr_assets.core.backup.failures import recorded_failure
from dr_assets.core.catalog import Catalog
from dr_assets.core.copies.locate import check_object
from dr_assets.core.copies.verify import VerifyResult
from dr_assets.core.errors import BackupError, DRError, StoreError, WalError
from dr_assets.core.format.base_backup import (
    BASE_MANIFEST_SUFFIX,
    BaseBackupManifest,
    base_manifest_key,
    base_object_key,
    base_prefix,
)
from dr_assets.core.format.keys import Keyring
from dr_assets.core.format.manifest import DestinationResult, EncryptionInfo, StoredObject, iso
from dr_assets.core.format.stream import BackupEncoder
from dr_assets.core.names import new_backup_id
from dr_assets.core.pg.binaries import find_tool, tool_version
from dr_assets.core.pg.command import ToolFailed, spawned
from dr_assets.core.pg.conninfo import ConnInfo
from dr_assets.core.pg.sessions import connection
from dr_assets.core.pg.wal_names import Segment, parse_lsn
from dr_assets.core.policy import DRConfig
from dr_assets.core.statuses import VALID_STATUSES, BackupStatus, CopyStatus
from dr_assets.core.stores.base import Store
from dr_assets.core.stores.mirrored import MirroredWriter

READ_BLOCK = 1 << 20
_START = re.compile(r"write-ahead log start point: ([0-9A-Fa-f]+/[0-9A-Fa-f]+) on timeline (\d+)")
_END = re.compile(r"write-ahead log end point: ([0-9A-Fa-f]+/[0-9A-Fa-f]+)")


@dataclass(frozen=True)
class ServerFacts:
    """What the manifest says of the server, read over SQL before the backup starts."""

    server_version: str
    system_identifier: str
    wal_segment_size: int

    @classmethod
    def read(cls, info: ConnInfo) -> ServerFacts:
        with connection(info) as conn, conn.cursor() as cur:
            cur.execute("SELECT current_setting('server_version'),"
                        " (SELECT system_identifier FROM pg_control_system())::text,"
                        " (SELECT bytes_per_wal_segment FROM pg_control_init())")
            row = cur.fetchone()
        assert row is not None
        return cls(server_version=row[0], system_identifier=row[1], wal_segment_size=int(row[2]))

    @property
    def major(self) -> int:
        return int(self.server_version.split(".")[0].split()[0])


@dataclass(frozen=True)
class WalRange:
    """Where the backup's WAL starts and ends, as pg_basebackup -v reports it."""

    timeline: int
    start_lsn: str
    stop_lsn: str

    @classmethod
    def parse(cls, stderr: str) -> WalRange:
        start, end = _START.search(stderr), _END.search(stderr)
        if start is None or end is None:
            raise WalError("pg_basebackup did not report its write-ahead log start and end "
                           f"points (is -v honoured?): {stderr.strip()[-300:]}")
        parse_lsn(start.group(1))
        parse_lsn(end.group(1))
        return cls(int(start.group(2)), start.group(1).upper(), end.group(1).upper())


def run_base_backup(config: DRConfig, server: str, *, keyring: Keyring, stores: list[Store],
                    catalog: Catalog, run_id: str | None = None,
                    partition: str | None = None) -> BaseBackupManifest:
    """Take one base backup of SERVER into every store; its manifest."""
    policy = config.server(server)
    info = policy.conninfo
    with catalog.app_lock(f"server:{server}", "base_backup"):
        started = datetime.now(UTC)
        backup_id = new_backup_id(server, started)
        catalog.begin_base_backup(backup_id, server, started, run_id, partition)
        with recorded_failure(
                lambda message, at: catalog.fail_base_backup(backup_id, message, at),
                f"base backup {backup_id} of server {server}"):
            manifest = _take(config, server, backup_id, started, info, keyring, stores,
                             run_id, partition)
        catalog.record_base_backup(manifest.to_dict())
        return manifest


def _take(config: DRConfig, server: str, backup_id: str, started: datetime, info: ConnInfo,
          keyring: Keyring, stores: list[Store], run_id: str | None,
          partition: str | None) -> BaseBackupManifest:
    facts = ServerFacts.read(info)
    tool = find_tool("pg_basebackup", facts.major)
    data_key = os.urandom(32)
    master = keyring.current
    encoder = BackupEncoder(data_key, config.encryption.chunk_size, config.zstd_level)
    okey = base_object_key(server, backup_id)
    writer = MirroredWriter.open(stores, okey)
    try:
        if not writer.healthy:
            raise BackupError(f"base backup {backup_id} of server {server}: no destination "
                              "accepted it: " + "; ".join(writer.errors.values()))
        try:
            with spawned([tool, *info.tool_args(), "-D", "-", "-Ft", "-X", "fetch", "-c", "fast",
                          "-v", "--no-password"], env=info.tool_env(), stdout=True) as child:
                while block := child.stdout.read1(READ_BLOCK):
                    for piece in encoder.write(block):
                        writer.write(piece)
                    if not writer.healthy:
                        raise BackupError(f"base backup {backup_id} of server {server}: every "
                                          "destination failed: "
                                          + "; ".join(writer.errors.values()))
        except ToolFailed as failed:
            raise BackupError(f"pg_basebackup of server {server} ({info.safe_url}) failed "
                              f"with exit {failed.exit_code}: {failed.last_lines}") from failed
        wal = WalRange.parse(child.stderr_text())
        for piece in encoder.finish():
            writer.write(piece)
        writer.commit()
        if not writer.healthy:
            raise BackupError(f"base backup {backup_id} of server {server}: every destination "
                              "failed: " + "; ".join(writer.errors.values()))
    except BaseException:
        writer.abort()
        raise
    finished = datetime.now(UTC)
    destinations = {
        store.name: (DestinationResult(status=CopyStatus.OK, stored_bytes=encoder.stored_bytes,
                                       uploaded_at=iso(finished), location=store.describe(okey))
                     if store in writer.healthy else
                     DestinationResult(status=CopyStatus.FAILED, location=store.describe(okey),
                                       error=writer.errors.get(store.name, "unknown error")))
        for store in stores
    }
    manifest = BaseBackupManifest(
        backup_id=backup_id, server=server, status=BackupStatus.COMPLETED,
        started_at=iso(started), finished_at=iso(finished), timeline=wal.timeline,
        start_lsn=wal.start_lsn, stop_lsn=wal.stop_lsn,
        start_wal=Segment.of(wal.timeline, parse_lsn(wal.start_lsn), facts.wal_segment_size).name,
        server_version=facts.server_version, pg_basebackup_version=tool_version(tool),
        system_identifier=facts.system_identifier, source_host=f"{info.host}:{info.port}",
        encryption=EncryptionInfo(key_id=master.key_id, wrapped_key=master.wrap(data_key, backup_id),
                                  chunk_size=config.encryption.chunk_size),
        raw_bytes=encoder.raw_bytes, stored_bytes=encoder.stored_bytes, sha256=encoder.sha256,
        destinations=destinations, includes_wal=True, wal_segment_size=facts.wal_segment_size,
        dagster_run_id=run_id, dagster_partition=partition,
        compression={"algorithm": "zstd", "level": config.zstd_level},
    )
    return publish_base_manifest(manifest, stores)


def _with_status(manifest: BaseBackupManifest, destinations: dict[str, DestinationResult]
                 ) -> BaseBackupManifest:
    ok = all(d.status == CopyStatus.OK for d in destinations.values())
    return replace(manifest, destinations=destinations,
                   status=BackupStatus.COMPLETED if ok else BackupStatus.DEGRADED)


def publish_base_manifest(manifest: BaseBackupManifest, stores: list[Store]) -> BaseBackupManifest:
    """Write the manifest beside every good copy (the step that makes the base backup
    visible); a store that refuses it loses its copy. Raises when none took it."""
    manifest = _with_status(manifest, dict(manifest.destinations))
    for _ in range(len(stores) + 1):
        refused: dict[str, str] = {}
        for store in stores:
            if store.name not in manifest.ok_destinations:
                continue
            try:
                store.put_bytes(manifest.manifest_key, manifest.to_json())
            except StoreError as exc:
                refused[store.name] = str(exc)
                for key in (manifest.manifest_key, manifest.object_key):
                    with contextlib.suppress(StoreError):
                        store.delete(key)
        if not refused:
            break
        destinations = dict(manifest.destinations)
        for name, error in refused.items():
            destinations[name] = DestinationResult(status=CopyStatus.FAILED, error=error,
                                                   location=destinations[name].location)
        manifest = _with_status(manifest, destinations)
        if not manifest.ok_destinations:
            raise BackupError(f"base backup {manifest.backup_id}: no destination accepted its "
                              "manifest: " + "; ".join(refused.values()))
    return manifest


def read_base_manifest(store: Store, server: str, backup_id: str) -> BaseBackupManifest:
    key = base_manifest_key(server, backup_id)
    return BaseBackupManifest.from_json(store.get_bytes(key), store.describe(key))


def list_base_backups_in_stores(server: str, stores: list[Store]) -> list[BaseBackupManifest]:
    """Every base backup of SERVER whose manifest some store holds, oldest first; where
    stores disagree, the manifest knowing of the most good copies wins. An unreachable
    store or an unreadable manifest is skipped (the others still answer)."""
    found: dict[str, BaseBackupManifest] = {}
    for store in stores:
        try:
            keys = [k for k in store.list_keys(base_prefix(server))
                    if k.endswith(BASE_MANIFEST_SUFFIX)]
            for key in keys:
                try:
                    m = BaseBackupManifest.from_json(store.get_bytes(key), store.describe(key))
                except DRError:
                    continue
                known = found.get(m.backup_id)
                if m.server == server and (
                        known is None or len(m.ok_destinations) > len(known.ok_destinations)):
                    found[m.backup_id] = m
        except StoreError:
            continue
    return sorted(found.values(), key=lambda m: (m.started_at, m.backup_id))


def newest_base_backup(server: str, catalog: Catalog, stores: list[Store],
                       run_id: str | None = None) -> BaseBackupManifest | None:
    """The newest valid base backup of SERVER (that run's, when RUN_ID took one), from the
    catalog's manifests; the stores' when the catalog has none."""
    rows = [r for r in catalog.list_base_backups(server) if r.status in VALID_STATUSES]
    rows = [r for r in rows if r.dagster_run_id == run_id] or rows
    if rows and rows[0].manifest:
        return BaseBackupManifest.from_json(json.dumps(rows[0].manifest),
                                            f"catalog entry of {rows[0].backup_id}")
    found = list_base_backups_in_stores(server, stores)
    if rows:
        found = [m for m in found if m.backup_id == rows[0].backup_id] or found
    return found[-1] if found else None


def stored_object(manifest: BaseBackupManifest) -> StoredObject:
    return StoredObject(manifest.object_key, manifest.sha256, manifest.stored_bytes,
                        manifest.raw_bytes)


def verify_base_backup(manifest: BaseBackupManifest, stores: list[Store]) -> VerifyResult:
    """Re-read every copy the manifest says was stored; SHA-256 and size of the stored bytes."""
    expected = set(manifest.ok_destinations)
    obj = stored_object(manifest)
    return VerifyResult(manifest.backup_id,
                        [check_object(s, manifest, obj) for s in stores if s.name in expected])
