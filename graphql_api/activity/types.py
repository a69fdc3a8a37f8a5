"""Restores, drills, alerts, audit entries and the activity feed."""

from __future__ import annotations

from datetime import datetime

import strawberry

from graphql_api.picking import FromRow
from graphql_api.scalars import JSON


@strawberry.type
class Restore(FromRow):
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


@strawberry.type
class Drill(FromRow):
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
    target: str = strawberry.field(
        description="Where the drill restored: `isolated` (an empty throwaway PostgreSQL server "
                    "of the backup's major version) or `same_server` (beside the app's own).")
    instance_start_seconds: float | None = strawberry.field(
        description="Isolated drills: initdb and start-up of the throwaway server, not part "
                    "of restoreSeconds.")
    server_version: str | None = strawberry.field(
        description="Isolated drills: the throwaway server's PostgreSQL version.")


@strawberry.type
class Alert(FromRow):
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


@strawberry.type(description="One attempt to deliver an alert's opening or resolution "
                             "through one channel of [[alerts.channels]].")
class AlertDelivery(FromRow):
    channel: str
    event: str
    at: datetime
    ok: bool
    status_code: int | None
    error: str | None


@strawberry.type
class AuditEntry(FromRow):
    id: int
    at: datetime
    actor: str
    role: str
    action: str
    arguments: JSON
    result: str
    detail: str | None
    hash: str


@strawberry.type
class AuditPage:
    entries: list[AuditEntry]
    end_cursor: str | None
    has_next_page: bool


@strawberry.type
class ActivityEvent(FromRow):
    at: datetime
    kind: str
    app: str
    status: str
    ref: str | None
    detail: str | None
