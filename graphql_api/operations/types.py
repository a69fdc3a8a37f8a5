"""Results of admin actions: expected failures are union members with a message."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated

import strawberry

from dr_assets.core.catalog.rows import AlertRow
from graphql_api.scalars import BigInt


@strawberry.type
class RunLaunched:
    run_id: str
    job: str
    message: str


@strawberry.type
class UnknownApp:
    message: str


@strawberry.type
class BackupNotFound:
    message: str


@strawberry.type
class BackupNotRestorable:
    message: str


@strawberry.type
class NotAllowed:
    message: str


@strawberry.type
class DagsterUnavailable:
    message: str


@strawberry.type
class InvalidInput:
    message: str


@strawberry.type
class AlertNotFound:
    message: str


@strawberry.type
class RetentionDecision:
    backup_id: str
    delete: bool
    reason: str
    stored_bytes: BigInt


@strawberry.type
class RetentionPreview:
    app: str
    decisions: list[RetentionDecision]
    would_delete: list[str]
    bytes_freed: BigInt


@strawberry.type
class AlertAcknowledged:
    id: int
    acknowledged_by: str
    message: str

    @classmethod
    def from_row(cls, row: AlertRow) -> AlertAcknowledged:
        assert row.acknowledged_by is not None  # the row acknowledge_alert returns
        return cls(id=row.id, acknowledged_by=row.acknowledged_by,
                   message=f"alert {row.id} acknowledged")


@strawberry.type
class BackupHoldReleased:
    backup_id: str
    app: str
    alert_resolved: bool = strawberry.field(
        description="The app's backup_anomaly alert was resolved: no backup of it is held now.")
    message: str


@strawberry.enum
class RestoreMode(Enum):
    NEW_DATABASE = "NEW_DATABASE"
    REPLACE = "REPLACE"


@strawberry.input
class RestoreInput:
    backup_id: str
    target_database: str
    mode: RestoreMode = RestoreMode.NEW_DATABASE
    force_disconnect: bool = False
    tables: list[str] | None = strawberry.field(
        default=None, description="Restore only these tables, as SCHEMA.TABLE (plain names "
                                  "fold to lower case, others double-quoted), with what they "
                                  "need; NEW_DATABASE only.")
    schemas: list[str] | None = strawberry.field(
        default=None, description="Restore only these schemas, everything in them; "
                                  "NEW_DATABASE only.")


@strawberry.input(description="A restore of an app's database as of a moment, through its "
                               "server's WAL, into a new database on the app's server. Give "
                               "exactly one of toTime, toLsn and toLatest.")
class PointInTimeRestoreInput:
    app: str
    target_database: str
    to_time: datetime | None = strawberry.field(
        default=None, description="The moment, with a time zone (Z or an offset).")
    to_lsn: str | None = strawberry.field(
        default=None, description="A WAL position as PostgreSQL prints it, such as 0/3000060.")
    to_latest: bool | None = strawberry.field(
        default=None, description="true: the newest WAL the stores hold.")


@strawberry.type
class RunStatus:
    run_id: str
    status: str


CreateBackupResult = Annotated[
    RunLaunched | UnknownApp | NotAllowed | DagsterUnavailable,
    strawberry.union("CreateBackupResult"),
]
ScheduleDrillResult = Annotated[
    RunLaunched | UnknownApp | BackupNotFound | NotAllowed | DagsterUnavailable,
    strawberry.union("ScheduleDrillResult"),
]
RestoreBackupResult = Annotated[
    RunLaunched | BackupNotFound | BackupNotRestorable | InvalidInput | NotAllowed
    | DagsterUnavailable,
    strawberry.union("RestoreBackupResult"),
]
PointInTimeRestoreResult = Annotated[
    RunLaunched | UnknownApp | InvalidInput | NotAllowed | DagsterUnavailable,
    strawberry.union("PointInTimeRestoreResult"),
]
ApplyRetentionResult = Annotated[
    RetentionPreview | RunLaunched | UnknownApp | NotAllowed | DagsterUnavailable,
    strawberry.union("ApplyRetentionResult"),
]
AcknowledgeAlertResult = Annotated[
    AlertAcknowledged | AlertNotFound | NotAllowed,
    strawberry.union("AcknowledgeAlertResult"),
]
ReleaseBackupHoldResult = Annotated[
    BackupHoldReleased | BackupNotFound | InvalidInput | NotAllowed,
    strawberry.union("ReleaseBackupHoldResult"),
]
RunResult = Annotated[RunStatus | NotAllowed | DagsterUnavailable, strawberry.union("RunResult")]
