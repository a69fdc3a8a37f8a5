"""The catalog's rows as frozen dataclasses: what every catalog read returns.

A row of a whole table lists the table's columns in their order, so that drctl, which
prints rows as they are, prints what it always did; `from_record` builds a row from the
record a query returned, whose columns are named as the row's fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, dataclass, fields
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Self, cast

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

Record = Mapping[str, Any]


class Row:
    """What every row can do: be built from its record, and be shown as one."""

    @classmethod
    def from_record(cls, record: Record) -> Self:
        """A field with a default may be left out of the record (a read that does not need it)."""
        names = [f.name for f in fields(cast("type[DataclassInstance]", cls))
                 if f.name in record or (f.default is MISSING and f.default_factory is MISSING)]
        return cls(**{name: record[name] for name in names})

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(cast("DataclassInstance", self))}


def _json_time(at: datetime | None) -> str | None:
    """A time as PostgreSQL writes a timestamptz into JSON (no trailing zeros in the
    fraction): the copies of a backup are aggregated as jsonb, and drctl prints them so."""
    if at is None:
        return None
    text = at.isoformat()
    head, dot, rest = text.partition(".")
    if not dot:
        return text
    return f"{head}.{rest[:6].rstrip('0')}{rest[6:]}"


@dataclass(frozen=True)
class CopyRow(Row):
    """A backup's copy on one destination, with its latest checksum verification."""

    destination: str
    status: str  # CopyStatus
    stored_bytes: int | None
    location: str | None
    error: str | None
    verified_at: datetime | None
    verified_ok: bool | None
    verify_error: str | None

    @classmethod
    def from_json(cls, destination: str, body: Record) -> CopyRow:
        """From the jsonb object a backup read aggregates its copies into."""
        at = body["verified_at"]
        return cls(destination=destination, status=body["status"],
                   stored_bytes=body["stored_bytes"], location=body["location"],
                   error=body["error"], verified_at=datetime.fromisoformat(at) if at else None,
                   verified_ok=body["verified_ok"], verify_error=body["verify_error"])

    def to_dict(self) -> dict[str, Any]:
        """As drctl prints a copy: keyed in the order jsonb keeps an object's keys."""
        return {"error": self.error, "status": self.status, "location": self.location,
                "verified_at": _json_time(self.verified_at), "verified_ok": self.verified_ok,
                "stored_bytes": self.stored_bytes, "verify_error": self.verify_error}


@dataclass(frozen=True)
class BackupRow(Row):
    """A backup with its copies; `manifest` is None as well when the read left it out (the
    API's listings, which show two of its facts: server_version and pg_dump_version)."""

    backup_id: str
    app: str
    status: str  # BackupStatus
    started_at: datetime
    finished_at: datetime | None
    duration_seconds: float | None
    raw_bytes: int | None
    stored_bytes: int | None
    sha256: str | None
    key_id: str | None
    dagster_run_id: str | None
    partition_key: str | None
    error: str | None
    verified: bool
    server_version: str | None
    pg_dump_version: str | None
    manifest: dict[str, Any] | None
    copies: dict[str, CopyRow]  # by destination, in the catalog's order
    held: bool = False  # retention keeps it until an admin releases it (catalog migration 12)
    held_reason: str | None = None

    @classmethod
    def from_record(cls, record: Record) -> Self:
        copies = {name: CopyRow.from_json(name, body) for name, body in record["copies"].items()}
        return super().from_record({**record, "copies": copies})

    def to_dict(self) -> dict[str, Any]:
        """As `drctl backups --json` prints a backup."""
        return {
            "backup_id": self.backup_id, "app": self.app, "status": self.status,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "duration_seconds": self.duration_seconds, "raw_bytes": self.raw_bytes,
            "stored_bytes": self.stored_bytes, "sha256": self.sha256,
            "dagster_run_id": self.dagster_run_id, "partition_key": self.partition_key,
            "error": self.error, "copies": {n: c.to_dict() for n, c in self.copies.items()},
            "held": self.held, "held_reason": self.held_reason,
        }


@dataclass(frozen=True)
class BackupHead(Row):
    """A backup as a dashboard shows it at a glance: without its copies and manifest."""

    backup_id: str
    app: str
    status: str  # BackupStatus
    started_at: datetime
    finished_at: datetime | None
    stored_bytes: int | None
    verified: bool


@dataclass(frozen=True)
class BackupCheckRow(Row):
    """A backup with what its copies' checksum verifications say."""

    backup_id: str
    app: str
    status: str  # BackupStatus
    started_at: datetime
    stored_bytes: int | None
    error: str | None
    verified: bool  # a copy passed, and the backup is (or was, until deleted) valid
    check_failed: bool  # a copy failed
    held: bool = False
    held_reason: str | None = None


@dataclass(frozen=True)
class ContentsRow(Row):
    """A verified backup's contents as the anomaly rules read them."""

    backup_id: str
    started_at: datetime
    raw_bytes: int | None
    stored_bytes: int | None
    row_counts: dict[str, int] | None
    anomalies: list[dict[str, Any]] | None  # its own check's findings (None: not checked)


@dataclass(frozen=True)
class HoldRow(Row):
    """A backup retention must keep, or kept until its release (catalog migration 12)."""

    backup_id: str
    app: str
    started_at: datetime
    held: bool
    held_reason: str | None
    held_at: datetime | None
    held_by: str | None
    released_at: datetime | None
    released_by: str | None
    release_reason: str | None


@dataclass(frozen=True)
class VerificationRow(Row):
    """One checksum verification of one copy."""

    id: int
    app: str
    backup_id: str
    destination: str
    ok: bool
    checked_at: datetime
    error: str | None
    expected_sha256: str | None
    actual_sha256: str | None


@dataclass(frozen=True)
class DeletionRow(Row):
    """A backup deleted by retention, or marked deleted by sync; `error` says why."""

    backup_id: str
    app: str
    started_at: datetime
    deleted_at: datetime
    error: str | None


@dataclass(frozen=True)
class RestoreRow(Row):
    """A row of dr.restores."""

    id: int
    backup_id: str
    app: str
    target_database: str
    mode: str
    status: str  # RestoreStatus
    started_at: datetime
    finished_at: datetime | None
    duration_seconds: float | None
    source_destination: str | None
    rows_validated: bool | None
    error: str | None
    requested_by: str | None
    dagster_run_id: str | None


@dataclass(frozen=True)
class DrillRow(Row):
    """A row of dr.drills."""

    id: int
    app: str
    backup_id: str | None
    scratch_database: str
    status: str  # DrillStatus
    started_at: datetime
    finished_at: datetime | None
    restore_seconds: float | None
    rto_seconds: float
    rto_met: bool | None
    rows_validated: bool | None
    tables: int | None
    row_total: int | None
    scratch_dropped: bool | None
    error: str | None
    dagster_run_id: str | None
    target: str  # DrillTarget
    instance_start_seconds: float | None  # isolated: the throwaway server's initdb and start
    server_version: str | None  # isolated: the throwaway server's
    recovery_target: str | None = None  # point-in-time: the restore point recovered to


@dataclass(frozen=True)
class DrillHead(Row):
    """A finished drill as a dashboard shows it beside its app."""

    id: int
    backup_id: str | None
    status: str  # DrillStatus
    finished_at: datetime
    restore_seconds: float | None
    rto_seconds: float
    rto_met: bool | None
    error: str | None
    target: str  # DrillTarget


@dataclass(frozen=True)
class WalFileRow(Row):
    """A row of dr.wal_files: one WAL file a streamer put into the stores."""

    server: str
    name: str
    kind: str  # WalKind
    timeline: int
    received_at: datetime
    stored_at: datetime
    raw_bytes: int
    written_bytes: int | None
    raw_sha256: str
    held_by: list[str]
    deleted_at: datetime | None


@dataclass(frozen=True)
class BaseBackupRow(Row):
    """A row of dr.base_backups: one pg_basebackup of a whole server."""

    backup_id: str
    server: str
    status: str  # BackupStatus
    started_at: datetime
    finished_at: datetime | None
    timeline: int | None
    start_lsn: str | None
    stop_lsn: str | None
    raw_bytes: int | None
    stored_bytes: int | None
    sha256: str | None
    server_version: str | None
    dagster_run_id: str | None
    partition_key: str | None
    manifest: dict[str, Any] | None
    error: str | None
    deleted_at: datetime | None


@dataclass(frozen=True)
class RestorePointRow(Row):
    """A row of dr.restore_points: a named point in a server's WAL with the row counts of
    every table of its protected apps' databases, read in a snapshot at that point."""

    server: str
    name: str
    lsn: str
    timeline: int
    created_at: datetime
    row_counts: dict[str, dict[str, int]]  # database -> table -> rows


@dataclass(frozen=True)
class AlertRow(Row):
    """A row of dr.alerts."""

    id: int
    app: str
    kind: str
    severity: str
    status: str  # AlertStatus
    message: str
    opened_at: datetime
    resolved_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    delivered_at: datetime | None
    delivery_error: str | None


@dataclass(frozen=True)
class AlertCounts(Row):
    """Open alerts: all of them, and the critical ones."""

    active: int
    critical: int


@dataclass(frozen=True)
class AuditRow(Row):
    """A row of dr.audit_log."""

    id: int
    at: datetime
    actor: str
    role: str
    action: str
    arguments: Any  # JSON, as the action was called
    result: str
    detail: str | None
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class ActivityRow(Row):
    """One event of the activity feed: a backup, restore, drill or alert."""

    at: datetime
    kind: str
    app: str
    status: str
    ref: str | None
    detail: str | None


@dataclass(frozen=True)
class StorageRow(Row):
    """Bytes an app holds on one destination now, and 7 and 30 days ago."""

    app: str
    destination: str
    bytes: int
    backups: int
    bytes_7d_ago: int
    bytes_30d_ago: int


@dataclass(frozen=True)
class DashboardCounts(Row):
    total_backups: int
    succeeded_7d: int
    attempted_7d: int
    avg_backup_seconds: float
    avg_drill_seconds: float
    drills_passed_30d: int
    drills_failed_30d: int
    restores_30d: int
    active_alerts: int
    critical_alerts: int


@dataclass(frozen=True)
class BackupOutcomes(Row):
    """Backups that succeeded and failed."""

    succeeded: int
    failed: int


@dataclass(frozen=True)
class BackupDay(Row):
    """Backups of one app started on one UTC day (a deleted one had succeeded)."""

    app: str
    day: date
    succeeded: int
    failed: int


@dataclass(frozen=True)
class DrillFact:
    passed: bool
    finished_at: datetime
    restore_seconds: float | None


@dataclass(frozen=True)
class AppFacts:
    """What the catalog knows about one app, as plain data."""

    app: str
    newest_verified_at: datetime | None
    attempts_7d: int
    successes_7d: int
    integrity: str  # Integrity
    last_drill: DrillFact | None
    failures_24h: int = 0
    newest_status: str | None = None
    stored_bytes: int = 0
    backup_count: int = 0
    # Protected apps: when the newest WAL byte any destination holds of the app's server
    # was received (None: no WAL recorded, or the app has no server).
    newest_wal_at: datetime | None = None
    # What dashboards show of the app beside its health: its newest valid backup and its
    # last finished drill (the row last_drill is made of).
    newest_valid: BackupHead | None = None
    drill: DrillHead | None = None
