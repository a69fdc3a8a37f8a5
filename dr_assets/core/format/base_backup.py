"""The stored form of a base backup of a whole server: pg_basebackup's tar stream in the
same zstd + AES-256-GCM chunk stream as the dumps, and a JSON manifest beside it, written
after the object (a base backup without its manifest is not a backup).

Keys (under each store's prefix):

    _base/<server>/<backup_id>.tar.zst.enc
    _base/<server>/<backup_id>.base.json
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from dr_assets.core.errors import IntegrityError
from dr_assets.core.format.manifest import DestinationResult, EncryptionInfo

BASE_ROOT = "_base"
BASE_FORMAT_VERSION = 1
BASE_OBJECT_SUFFIX = ".tar.zst.enc"
BASE_MANIFEST_SUFFIX = ".base.json"


def base_prefix(server: str) -> str:
    return f"{BASE_ROOT}/{server}/"


def base_object_key(server: str, backup_id: str) -> str:
    return f"{BASE_ROOT}/{server}/{backup_id}{BASE_OBJECT_SUFFIX}"


def base_manifest_key(server: str, backup_id: str) -> str:
    return f"{BASE_ROOT}/{server}/{backup_id}{BASE_MANIFEST_SUFFIX}"


@dataclass(frozen=True)
class BaseBackupManifest:
    """One base backup. The data key is wrapped for the backup id, like a dump's.

    `start_lsn`/`stop_lsn` and `timeline` come from pg_basebackup; recovery from it needs
    the WAL from `start_wal` (the segment holding start_lsn) up to at least `stop_lsn`
    (`includes_wal`: the tar already carries that WAL, as `-X fetch` puts it)."""

    backup_id: str
    server: str
    status: str  # BackupStatus.COMPLETED or DEGRADED (a destination missed it)
    started_at: str
    finished_at: str
    timeline: int
    start_lsn: str
    stop_lsn: str
    start_wal: str
    server_version: str
    pg_basebackup_version: str
    system_identifier: str
    source_host: str
    encryption: EncryptionInfo
    raw_bytes: int
    stored_bytes: int
    sha256: str
    destinations: dict[str, DestinationResult]
    includes_wal: bool = True
    wal_segment_size: int = 16 << 20
    dagster_run_id: str | None = None
    dagster_partition: str | None = None
    compression: dict[str, Any] = field(default_factory=lambda: {"algorithm": "zstd"})
    format_version: int = BASE_FORMAT_VERSION

    @property
    def object_key(self) -> str:
        return base_object_key(self.server, self.backup_id)

    @property
    def manifest_key(self) -> str:
        return base_manifest_key(self.server, self.backup_id)

    @property
    def ok_destinations(self) -> list[str]:
        return [n for n, d in self.destinations.items() if d.status == "ok"]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True).encode()

    @classmethod
    def from_json(cls, blob: bytes | str, where: str = "base backup manifest") -> BaseBackupManifest:
        try:
            raw = json.loads(blob)
            if raw.get("format_version", 0) > BASE_FORMAT_VERSION:
                raise IntegrityError(f"{where}: format_version {raw['format_version']} is newer "
                                     "than this control plane reads: upgrade it")
            raw["encryption"] = EncryptionInfo(**raw["encryption"])
            raw["destinations"] = {k: DestinationResult(**v)
                                   for k, v in raw["destinations"].items()}
            known = {k: raw[k] for k in cls.__dataclass_fields__ if k in raw}
            return cls(**known)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise IntegrityError(f"{where}: not a base backup manifest ({exc})") from None
