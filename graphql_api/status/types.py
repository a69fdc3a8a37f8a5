"""Types of the public status tiles."""

from __future__ import annotations

from datetime import date, datetime

import strawberry

from dr_assets.core.health.scores import AppHealth
from dr_assets.core.health.timeline import AppTimeline
from dr_assets.core.policy import AppPolicy
from graphql_api.context import Info
from graphql_api.permissions import IsViewer
from graphql_api.picking import FromRow, pick
from graphql_api.scalars import BigInt
from graphql_api.status.forecast import AppForecastType


@strawberry.type
class BackupCounts(FromRow):
    succeeded: int
    failed: int


@strawberry.type
class GlobalStatus:
    health_score: float
    status: str
    apps_total: int
    apps_meeting_rpo: int
    apps_meeting_rto: int
    critical_apps_healthy: int
    storage_bytes: BigInt
    backups_24h: BackupCounts
    active_alerts: int
    generated_at: datetime


@strawberry.type
class Policy:
    rto_hours: float
    rpo_hours: float
    every_hours: int
    retention_days: int
    critical: bool
    min_keep: int

    @classmethod
    def from_policy(cls, p: AppPolicy) -> Policy:
        return pick(cls, p)


@strawberry.type
class BackupSummary(FromRow):
    backup_id: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    stored_bytes: BigInt | None
    verified: bool


@strawberry.type
class DrillSummary(FromRow):
    id: int
    backup_id: str | None
    status: str
    finished_at: datetime | None
    restore_seconds: float | None
    rto_seconds: float
    rto_met: bool | None
    error: str | None
    target: str = strawberry.field(
        description="Which kind of drill: `isolated` (onto an empty server, as after losing "
                    "the whole server) or `same_server`.")


@strawberry.type(description="What a protected server can be recovered to, from what the "
                             "stores hold: any moment from `earliest` to `latest` (both null "
                             "while no base backup with an unbroken WAL chain is stored).")
class RecoveryWindow:
    server: str
    earliest: datetime | None
    latest: datetime | None


@strawberry.type
class AppStatus:
    name: str
    policy: Policy
    last_backup: BackupSummary | None
    backup_age_hours: float | None
    rpo_met: bool
    last_drill: DrillSummary | None
    rto_met: bool
    health_score: float
    success_rate_7d: float
    storage_bytes: BigInt
    backup_count: int
    rpo_seconds: float | None = strawberry.field(
        description="The RPO in effect now, in seconds: with `protection` wal, the age of the "
                    "newest WAL byte a destination holds; with dumps, of the newest verified "
                    "backup. Null when there is no recovery point at all.")
    protection: str = strawberry.field(
        description="What the app's recovery points are: `wal` (its server's WAL, any "
                    "moment) or `dumps` (its backups only).")
    server: strawberry.Private[str | None] = None

    @strawberry.field(description="The app's server's recoverable window, computed from the "
                                  "stores; null for an app without a server.")
    async def recovery_window(self, info: Info) -> RecoveryWindow | None:
        if self.server is None:
            return None
        server = self.server
        state = info.context.state
        window = await state.workers.run(state.recovery_window, server)
        return RecoveryWindow(server=server, earliest=window.earliest, latest=window.latest)

    @strawberry.field(permission_classes=[IsViewer],
                      description="The app's trends and when its restore time is forecast to "
                                  "reach the RTO (viewer): one estate forecast for every app "
                                  "of the request.")
    async def forecast(self, info: Info) -> AppForecastType:
        state = info.context.state
        estate = await state.workers.run(state.forecast)
        return AppForecastType.from_forecast(estate.apps[self.name],
                                             info.context.config.apps[self.name].rto_hours * 3600)


@strawberry.type
class AppHealthBreakdown:
    app: str
    critical: bool
    score: float
    rpo_points: float
    success_points: float
    integrity_points: float
    readiness_points: float

    @classmethod
    def from_health(cls, h: AppHealth) -> AppHealthBreakdown:
        return cls(app=h.app, critical=h.critical, score=h.score, rpo_points=h.rpo_part,
                   success_points=h.success_part, integrity_points=h.integrity_part,
                   readiness_points=h.readiness_part)


@strawberry.type
class ComponentCheck:
    name: str
    ok: bool
    detail: str = strawberry.field(
        description="What the probe said (a store's location, Dagster's URL, why it is "
                    "down) for viewers and above; `up` or `down` for anonymous callers.")


@strawberry.type
class HealthCheck:
    ok: bool
    components: list[ComponentCheck]
    checked_at: datetime = strawberry.field(
        description="When the components were probed: the answer is kept for "
                    "`[api] health_keep_seconds` and shared by every caller meanwhile.")


@strawberry.type(description="Backups of one app started on one UTC day.")
class BackupDayCount(FromRow):
    day: date
    succeeded: int
    failed: int


@strawberry.type(description="An app's backups per day: aggregate counts only, no ids.")
class AppBackupTimeline:
    app: str
    succeeded: int
    failed: int
    days: list[BackupDayCount]

    @classmethod
    def from_timeline(cls, t: AppTimeline) -> AppBackupTimeline:
        return cls(app=t.app, succeeded=t.succeeded, failed=t.failed,
                   days=[BackupDayCount.from_row(d) for d in t.days])
