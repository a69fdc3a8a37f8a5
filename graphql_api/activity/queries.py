"""Viewer queries over what happened (restores, drills, alerts, activity) and the admin
audit log."""

from __future__ import annotations

from datetime import timedelta

import strawberry
from graphql import GraphQLError

from graphql_api.activity.types import (
    ActivityEvent,
    Alert,
    AlertDelivery,
    AuditEntry,
    AuditPage,
    Drill,
    Restore,
)
from graphql_api.context import Info
from graphql_api.permissions import IsAdmin, IsViewer


def _limit(info: Info, first: int) -> int:
    cap = info.context.config.api.max_page_size
    if not 1 <= first <= cap:
        raise GraphQLError(f"first must be between 1 and {cap}")
    return first


@strawberry.type
class ActivityQueries:
    @strawberry.field(permission_classes=[IsViewer], description="Restores, newest first.")
    def restores(self, info: Info, first: int = 50) -> list[Restore]:
        return [Restore.from_row(r) for r in info.context.catalog.list_restores(_limit(info, first))]

    @strawberry.field(permission_classes=[IsViewer], description="Restore drills, newest first.")
    def drills(self, info: Info, app: str | None = None, first: int = 50) -> list[Drill]:
        return [Drill.from_row(r)
                for r in info.context.catalog.list_drills(app, _limit(info, first))]

    @strawberry.field(permission_classes=[IsViewer], description="Alerts; active=true: open ones.")
    def alerts(self, info: Info, active: bool | None = None) -> list[Alert]:
        return [Alert.from_row(r) for r in info.context.catalog.list_alerts(active)]

    @strawberry.field(permission_classes=[IsViewer],
                      description="Every attempt to deliver an alert, oldest first.")
    def alert_deliveries(self, info: Info, alert_id: int) -> list[AlertDelivery]:
        return [AlertDelivery.from_row(r)
                for r in info.context.catalog.alert_deliveries(alert_id)]

    @strawberry.field(permission_classes=[IsViewer],
                      description="Backups, restores, drills and alerts of the last hours.")
    def recent_activity(self, info: Info, hours: int = 24) -> list[ActivityEvent]:
        if not 1 <= hours <= 24 * 90:
            raise GraphQLError("hours must be between 1 and 2160")
        since = info.context.now - timedelta(hours=hours)
        return [ActivityEvent.from_row(r) for r in info.context.catalog.recent_activity(since)]

    @strawberry.field(permission_classes=[IsAdmin], description="The audit log, newest first.")
    def audit_log(self, info: Info, first: int = 50, after: str | None = None,
                  action: str | None = None) -> AuditPage:
        before = None
        if after is not None:
            if not after.isdigit():
                raise GraphQLError(f"malformed cursor {after!r}: pass endCursor from a page")
            before = int(after)
        rows = info.context.catalog.audit_page(_limit(info, first) + 1, before, action)
        page = rows[:first]
        return AuditPage(entries=[AuditEntry.from_row(r) for r in page],
                         end_cursor=str(page[-1].id) if page else None,
                         has_next_page=len(rows) > first)
