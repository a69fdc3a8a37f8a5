"""A backup as the API shows it: manifest facts, copies, and the Dagster run behind it."""

from __future__ import annotations

from datetime import datetime

import strawberry

from dr_assets.core.catalog.rows import BackupRow
from graphql_api.context import Info
from graphql_api.picking import FromRow
from graphql_api.scalars import JSON, BigInt


@strawberry.type
class BackupCopy(FromRow):
    destination: str
    status: str
    stored_bytes: BigInt | None
    location: str | None
    error: str | None
    verified_at: datetime | None
    verified_ok: bool | None


@strawberry.type
class Backup:
    backup_id: str
    app: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    duration_seconds: float | None
    raw_bytes: BigInt | None
    stored_bytes: BigInt | None
    sha256: str | None
    key_id: str | None
    run_id: str | None
    partition: str | None
    error: str | None
    verified: bool
    server_version: str | None
    pg_dump_version: str | None
    copies: list[BackupCopy]
    held: bool = strawberry.field(
        description="Retention keeps this backup, whatever its age, until an admin releases "
                    "it (releaseBackupHold): the contents check held it as the last good "
                    "backup before an anomaly.")
    held_reason: str | None = strawberry.field(description="Why the backup is held.")

    @strawberry.field(description="Rows per table counted in the backup's snapshot.")
    async def row_counts(self, info: Info) -> JSON | None:
        return await info.context.row_counts.load(self.backup_id)

    @classmethod
    def from_row(cls, r: BackupRow) -> Backup:
        return cls(
            backup_id=r.backup_id, app=r.app, status=r.status, started_at=r.started_at,
            finished_at=r.finished_at, duration_seconds=r.duration_seconds,
            raw_bytes=r.raw_bytes, stored_bytes=r.stored_bytes, sha256=r.sha256,
            key_id=r.key_id, run_id=r.dagster_run_id, partition=r.partition_key, error=r.error,
            verified=r.verified, server_version=r.server_version,
            pg_dump_version=r.pg_dump_version,
            copies=[BackupCopy.from_row(r.copies[name]) for name in sorted(r.copies)],
            held=r.held, held_reason=r.held_reason,
        )


@strawberry.type
class BackupEdge:
    cursor: str
    node: Backup


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class BackupConnection:
    edges: list[BackupEdge]
    page_info: PageInfo
    total_count: int
