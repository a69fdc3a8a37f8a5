"""The backup manifest: a versioned, self-describing JSON document beside every backup.

Everything a restore needs without any database is here. Backups outlive code versions,
so readers accept every format_version up to the current one and refuse newer ones.
Version 2 adds the server objects (roles, database properties, extensions) stored as a
second object beside the dump; a version-1 manifest has none and reads as before.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from dr_assets.core.errors import IntegrityError
from dr_assets.core.format.fingerprint import SchemaFingerprint
from dr_assets.core.format.stream import NONCE_SCHEME
from dr_assets.core.names import check_backup_id, time_of_backup_id
from dr_assets.core.statuses import BackupStatus, CopyStatus

FORMAT_VERSION = 2
OBJECT_SUFFIX = ".dump.zst.enc"
MANIFEST_SUFFIX = ".manifest.json"
SERVER_OBJECTS_SUFFIX = ".server.json.zst.enc"


def object_key(backup_id: str) -> str:
    """Store-relative key: <app>/<YYYY>/<MM>/<DD>/<backup_id>.dump.zst.enc."""
    at = time_of_backup_id(backup_id)
    app = backup_id.rsplit("-", 2)[0]
    return f"{app}/{at:%Y/%m/%d}/{backup_id}{OBJECT_SUFFIX}"


def _beside(backup_id: str, suffix: str) -> str:
    return object_key(backup_id)[: -len(OBJECT_SUFFIX)] + suffix


def backup_key_prefix(backup_id: str) -> str:
    """What every key of one backup (its dump, server objects and manifest) starts with."""
    return _beside(backup_id, ".")


def manifest_key(backup_id: str) -> str:
    return _beside(backup_id, MANIFEST_SUFFIX)


def server_objects_key(backup_id: str) -> str:
    """Store-relative key of the server objects: <backup_id>.server.json.zst.enc."""
    return _beside(backup_id, SERVER_OBJECTS_SUFFIX)


def backup_keys(backup_id: str) -> tuple[str, ...]:
    """Every stored object a backup may have, the manifest first (deleted first, so that
    a half-deleted backup is invisible, never "valid")."""
    return manifest_key(backup_id), object_key(backup_id), server_objects_key(backup_id)


def iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


@dataclass(frozen=True)
class DestinationResult:
    status: str  # CopyStatus
    stored_bytes: int = 0
    uploaded_at: str | None = None
    error: str | None = None
    location: str | None = None


@dataclass(frozen=True)
class EncryptionInfo:
    key_id: str
    wrapped_key: str
    chunk_size: int
    algorithm: str = "AES-256-GCM"
    key_wrap: str = "AES-256-GCM"
    nonce_scheme: str = NONCE_SCHEME
    stream_format: str = "pgdr-1"


@dataclass(frozen=True)
class RecordedAnswer:
    """A validation check's query and its answer in the dump's snapshot (or why it has none)."""

    sql: str
    answer: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class StoredObject:
    """One object of a backup as stored: its key, the SHA-256 and size of its stored bytes,
    and its size before compression and encryption."""

    key: str
    sha256: str
    stored_bytes: int
    raw_bytes: int


@dataclass(frozen=True)
class BackupManifest:
    app: str
    backup_id: str
    started_at: str
    finished_at: str
    source_database: str
    source_host: str
    server_version: str
    pg_dump_version: str
    encryption: EncryptionInfo
    raw_bytes: int
    stored_bytes: int
    sha256: str
    row_counts: dict[str, int]
    destinations: dict[str, DestinationResult]
    dagster_run_id: str | None = None
    dagster_partition: str | None = None
    dump_format: str = "custom"
    compression: dict[str, Any] = field(default_factory=lambda: {"algorithm": "zstd"})
    server_objects: StoredObject | None = None  # format_version >= 2
    format_version: int = FORMAT_VERSION
    # Optional: absent from version-1 manifests, whose restores then compare row counts only.
    schema_fingerprint: SchemaFingerprint | None = None
    validation_answers: dict[str, RecordedAnswer] | None = None

    @property
    def object_key(self) -> str:
        return object_key(self.backup_id)

    @property
    def dump(self) -> StoredObject:
        return StoredObject(self.object_key, self.sha256, self.stored_bytes, self.raw_bytes)

    @property
    def stored_objects(self) -> tuple[StoredObject, ...]:
        """What a good copy holds: the dump, and the server objects when captured."""
        return (self.dump,) if self.server_objects is None else (self.dump, self.server_objects)

    @property
    def manifest_key(self) -> str:
        return manifest_key(self.backup_id)

    @property
    def ok_destinations(self) -> list[str]:
        return [n for n, d in self.destinations.items() if d.status == CopyStatus.OK]

    @property
    def status(self) -> str:
        ok = self.ok_destinations
        return (BackupStatus.COMPLETED if ok and len(ok) == len(self.destinations)
                else BackupStatus.DEGRADED)

    @property
    def started(self) -> datetime:
        return parse_time(self.started_at)

    @property
    def finished(self) -> datetime:
        return parse_time(self.finished_at)

    def with_destination(self, name: str, result: DestinationResult) -> BackupManifest:
        return replace(self, destinations={**self.destinations, name: result})

    def to_dict(self) -> dict[str, Any]:
        body = asdict(self)
        for name in ("schema_fingerprint", "validation_answers"):
            if body[name] is None:
                del body[name]
        if self.schema_fingerprint is not None:
            body["schema_fingerprint"] = self.schema_fingerprint.to_dict()
        body["status"] = self.status
        body["sizes"] = {"raw_bytes": body.pop("raw_bytes"), "stored_bytes": body.pop("stored_bytes")}
        body["source"] = {
            "database": body.pop("source_database"),
            "host": body.pop("source_host"),
            "server_version": body.pop("server_version"),
            "pg_dump_version": body.pop("pg_dump_version"),
        }
        body["dagster"] = {
            "run_id": body.pop("dagster_run_id"),
            "partition": body.pop("dagster_partition"),
        }
        body["object_key"] = self.object_key
        if body["server_objects"] is None:
            del body["server_objects"]  # a version-1 manifest is written back as it was read
        return {"format_version": body.pop("format_version"), **body}

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False).encode() + b"\n"

    @classmethod
    def from_json(cls, blob: bytes | str, where: str = "manifest") -> BackupManifest:
        try:
            body = json.loads(blob)
            version = int(body["format_version"])
        except (ValueError, KeyError, TypeError) as exc:
            raise IntegrityError(f"{where} is not a backup manifest ({exc})") from None
        if version > FORMAT_VERSION:
            raise IntegrityError(
                f"{where} has format_version {version}, newer than this drctl understands "
                f"({FORMAT_VERSION}): upgrade drctl to restore it"
            )
        try:
            manifest = cls(
                app=body["app"],
                backup_id=check_backup_id(body["backup_id"]),
                started_at=body["started_at"],
                finished_at=body["finished_at"],
                source_database=body["source"]["database"],
                source_host=body["source"]["host"],
                server_version=body["source"]["server_version"],
                pg_dump_version=body["source"]["pg_dump_version"],
                encryption=EncryptionInfo(**body["encryption"]),
                raw_bytes=int(body["sizes"]["raw_bytes"]),
                stored_bytes=int(body["sizes"]["stored_bytes"]),
                sha256=body["sha256"],
                row_counts={k: int(v) for k, v in body["row_counts"].items()},
                destinations={
                    k: DestinationResult(**v) for k, v in body["destinations"].items()
                },
                dagster_run_id=body.get("dagster", {}).get("run_id"),
                dagster_partition=body.get("dagster", {}).get("partition"),
                dump_format=body.get("dump_format", "custom"),
                compression=body.get("compression", {"algorithm": "zstd"}),
                server_objects=_stored_object(body.get("server_objects")),
                format_version=version,
                schema_fingerprint=(
                    None if body.get("schema_fingerprint") is None
                    else SchemaFingerprint.from_dict(body["schema_fingerprint"], where)),
                validation_answers=(
                    None if body.get("validation_answers") is None
                    else {str(k): RecordedAnswer(**v) for k, v in body["validation_answers"].items()}),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise IntegrityError(f"{where} is missing or has a malformed field ({exc})") from None
        if manifest.app != manifest.backup_id.rsplit("-", 2)[0]:
            raise IntegrityError(f"{where}: app {manifest.app!r} does not match its backup id")
        if (manifest.server_objects is not None
                and manifest.server_objects.key != server_objects_key(manifest.backup_id)):
            raise IntegrityError(f"{where}: its server objects key does not belong to "
                                 f"{manifest.backup_id}")
        return manifest


def _stored_object(body: dict[str, Any] | None) -> StoredObject | None:
    if body is None:
        return None
    return StoredObject(key=str(body["key"]), sha256=str(body["sha256"]),
                        stored_bytes=int(body["stored_bytes"]), raw_bytes=int(body["raw_bytes"]))
