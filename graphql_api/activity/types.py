"""Restores, drills, alerts, audit entries and the activity feed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from dr_assets.core.catalog.rows import ActivityRow, AlertRow, AuditRow, DrillRow, RestoreRow, Row
from graphql_api.scalars import JSON


def _pick(cls: Any, row: Row) -> Any:
    """Build a type from a catalog row: the type's fields are some of the row's."""
    names = {f.python_name for f in cls.__strawberry_definition__.fields}
    return cls(**{k: getattr(row, k) for k in names})


@strawberry.type
class Restore:
    id: int
    backup_id: str
    app: str
    target_database: str
    mode: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    duration_seconds: float | None
    source_destination: str | None
    rows_validated: bool | None
    error: str | None
    requested_by: str | None
    dagster_run_id: str | None

    @classmethod
    def from_row(cls, row: RestoreRow) -> Restore:
        return _pick(cls, row)  # type: ignore[no-any-return]


@strawberry.type
class Drill:
    id: int
    app: str
    backup_id: str | None
    scratch_database: str
    status: str
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

    @classmethod
    def from_row(cls, row: DrillRow) -> Drill:
        return _pick(cls, row)  # type: ignore[no-any-return]


@strawberry.type
class Alert:
    id: int
    app: str
    kind: str
    severity: str
    status: str
    message: str
    opened_at: datetime
    resolved_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    delivered_at: datetime | None

    @classmethod
    def from_row(cls, row: AlertRow) -> Alert:
        return _pick(cls, row)  # type: ignore[no-any-return]


@strawberry.type
class AuditEntry:
    id: int
    at: datetime
    actor: str
    role: str
    action: str
    arguments: JSON
    result: str
    detail: str | None
    hash: str

    @classmethod
    def from_row(cls, row: AuditRow) -> AuditEntry:
        return _pick(cls, row)  # type: ignore[no-any-return]


@strawberry.type
class AuditPage:
    entries: list[AuditEntry]
    end_cursor: str | None
    has_next_page: bool


@strawberry.type
class ActivityEvent:
    at: datetime
    kind: str
    app: str
    status: str
    ref: str | None
    detail: str | None

    @classmethod
    def from_row(cls, row: ActivityRow) -> ActivityEvent:
        return _pick(cls, row)  # type: ignore[no-any-return]
