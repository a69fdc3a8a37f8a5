"""Viewer queries over backups: a cursor connection and one backup by id."""

from __future__ import annotations

import base64
from datetime import datetime

import strawberry
from graphql import GraphQLError

from dr_assets.core.errors import InvalidName
from dr_assets.core.names import check_app_name, check_backup_id
from dr_assets.core.statuses import BackupStatus
from graphql_api.backups.types import Backup, BackupConnection, BackupEdge, PageInfo
from graphql_api.context import Info
from graphql_api.permissions import IsViewer

STATUSES = (BackupStatus.RUNNING, BackupStatus.COMPLETED, BackupStatus.DEGRADED,
            BackupStatus.FAILED)


def encode_cursor(started_at: datetime, backup_id: str) -> str:
    return base64.urlsafe_b64encode(f"{started_at.isoformat()}|{backup_id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        at, _, backup_id = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        return datetime.fromisoformat(at), check_backup_id(backup_id)
    except (ValueError, InvalidName):
        raise GraphQLError(f"malformed cursor {cursor!r}: pass an endCursor from a previous page"
                           ) from None


@strawberry.type
class BackupQueries:
    @strawberry.field(permission_classes=[IsViewer],
                      description="Backups, newest first, as a cursor connection.")
    def backups(self, info: Info, app: str | None = None, status: str | None = None,
                since: datetime | None = None, first: int = 50,
                after: str | None = None) -> BackupConnection:
        ctx = info.context
        if app is not None:
            check_app_name(app)
            if app not in ctx.config.apps:
                raise GraphQLError(f"unknown app {app!r}")
        if status is not None and status not in STATUSES:
            raise GraphQLError(f"unknown status {status!r}: use one of {', '.join(STATUSES)}")
        if not 1 <= first <= ctx.config.api.max_page_size:
            raise GraphQLError(f"first must be between 1 and {ctx.config.api.max_page_size}")
        rows, total = ctx.catalog.page_backups(app, status, since, first,
                                               decode_cursor(after) if after else None)
        page = rows[:first]
        edges = [BackupEdge(cursor=encode_cursor(r.started_at, r.backup_id),
                            node=Backup.from_row(r)) for r in page]
        return BackupConnection(
            edges=edges, total_count=total,
            page_info=PageInfo(has_next_page=len(rows) > first,
                               end_cursor=edges[-1].cursor if edges else None),
        )

    @strawberry.field(permission_classes=[IsViewer], description="One backup, or null.")
    def backup(self, info: Info, id: strawberry.ID) -> Backup | None:
        try:
            backup_id = check_backup_id(str(id))
        except InvalidName as exc:
            raise GraphQLError(str(exc)) from None
        row = info.context.catalog.backup_row(backup_id)
        return Backup.from_row(row) if row else None
