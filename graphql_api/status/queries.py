"""Public status queries: globalStatus, apps, app(name), healthCheck, backupTimeline."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import strawberry

from dr_assets.core.health.timeline import backup_timeline
from graphql_api.context import Context, Info
from graphql_api.status.types import (
    AppBackupTimeline,
    AppStatus,
    BackupCounts,
    BackupSummary,
    ComponentCheck,
    DrillSummary,
    GlobalStatus,
    HealthCheck,
    Policy,
)

PUBLIC_DETAIL = {True: "up", False: "down"}  # what anonymous callers learn of a component


def global_status(ctx: Context) -> GlobalStatus:
    status = ctx.state.estate()
    g = status.health
    counts = ctx.catalog.backup_counts_since(ctx.now - timedelta(hours=24))
    return GlobalStatus(
        health_score=g.score, status=g.status, apps_total=len(g.apps),
        apps_meeting_rpo=g.apps_meeting_rpo, apps_meeting_rto=g.apps_meeting_rto,
        critical_apps_healthy=g.critical_apps_healthy,
        storage_bytes=sum(f.stored_bytes for f in status.facts.values()),
        backups_24h=BackupCounts.from_row(counts),
        active_alerts=ctx.catalog.alert_counts().active, generated_at=ctx.now,
    )


def app_statuses(ctx: Context, only: Sequence[str] | None = None) -> list[AppStatus]:
    """Every app (or those named) from the estate's facts: no query of its own."""
    names = list(ctx.config.apps) if only is None else list(only)
    status = ctx.state.estate()
    health = {a.app: a for a in status.health.apps}
    out = []
    for name in names:
        h, f = health[name], status.facts[name]
        out.append(AppStatus(
            name=name, policy=Policy.from_policy(ctx.config.apps[name]),
            last_backup=BackupSummary.from_row(f.newest_valid) if f.newest_valid else None,
            backup_age_hours=h.backup_age_hours, rpo_met=h.rpo_met,
            last_drill=DrillSummary.from_row(f.drill) if f.drill else None,
            rto_met=h.rto_met, health_score=h.score, success_rate_7d=h.success_rate_7d,
            storage_bytes=f.stored_bytes, backup_count=f.backup_count,
            rpo_seconds=h.rpo_seconds, protection=h.protection,
            server=ctx.config.apps[name].server,
        ))
    return out


@strawberry.type
class StatusQueries:
    @strawberry.field(description="Estate health: public.")
    def global_status(self, info: Info) -> GlobalStatus:
        return global_status(info.context)

    @strawberry.field(description="Every app with its policy and compliance: public.")
    def apps(self, info: Info) -> list[AppStatus]:
        return app_statuses(info.context)

    @strawberry.field(description="One app by name, or null if unknown: public.")
    def app(self, info: Info, name: str) -> AppStatus | None:
        if name not in info.context.config.apps:
            return None
        return app_statuses(info.context, only=[name])[0]

    @strawberry.field(description="Catalog, stores and Dagster reachability, each probed "
                                   "with a timeout (`[api] health_timeout_seconds`): public. "
                                   "Anonymous callers get each component's name and state "
                                   "only; its detail (paths, buckets, URLs, errors) needs "
                                   "the viewer role.")
    async def health_check(self, info: Info) -> HealthCheck:
        # Probes in threads of its own, never waiting for a worker: it answers in time
        # even when every worker waits on a slow dependency.
        checked = await info.context.state.health.check()
        detailed = info.context.principal.allows("viewer")
        return HealthCheck(ok=checked.ok, checked_at=checked.at, components=[
            ComponentCheck(name=c.name, ok=c.ok,
                           detail=c.detail if detailed else PUBLIC_DETAIL[c.ok])
            for c in checked.components])

    @strawberry.field(description="Backups succeeded and failed per app and UTC day over the "
                                   "last `days` days (1-366), today included: public.")
    def backup_timeline(self, info: Info, days: int = 30) -> list[AppBackupTimeline]:
        ctx = info.context
        return [AppBackupTimeline.from_timeline(t)
                for t in backup_timeline(ctx.config, ctx.catalog, ctx.now, days)]
