"""Types of the public status tiles."""

from __future__ import annotations

from datetime import date, datetime

import strawberry

from dr_assets.core.catalog.rows import BackupDay, BackupOutcomes, BackupRow, DrillRow
from dr_assets.core.health.scores import AppHealth
from dr_assets.core.health.timeline import AppTimeline
from dr_assets.core.policy import AppPolicy
from graphql_api.scalars import BigInt


@strawberry.type
class BackupCounts:
    succeeded: int
    failed: int

    @classmethod
    def from_row(cls, r: BackupOutcomes) -> BackupCounts:
        return cls(succeeded=r.succeeded, failed=r.failed)


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
        return cls(rto_hours=p.rto_hours, rpo_hours=p.rpo_hours, every_hours=p.every_hours,
                   retention_days=p.retention_days, critical=p.critical, min_keep=p.min_keep)


@strawberry.type
class BackupSummary:
    backup_id: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    stored_bytes: BigInt | None
    verified: bool

    @classmethod
    def from_row(cls, r: BackupRow) -> BackupSummary:
        return cls(backup_id=r.backup_id, status=r.status, started_at=r.started_at,
                   finished_at=r.finished_at, stored_bytes=r.stored_bytes, verified=r.verified)


@strawberry.type
class DrillSummary:
    id: int
    backup_id: str | None
    status: str
    finished_at: datetime | None
    restore_seconds: float | None
    rto_seconds: float
    rto_met: bool | None
    error: str | None

    @classmethod
    def from_row(cls, r: DrillRow) -> DrillSummary:
        return cls(id=r.id, backup_id=r.backup_id, status=r.status, finished_at=r.finished_at,
                   restore_seconds=r.restore_seconds, rto_seconds=r.rto_seconds,
                   rto_met=r.rto_met, error=r.error)


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
    detail: str


@strawberry.type
class HealthCheck:
    ok: bool
    components: list[ComponentCheck]


@strawberry.type(description="Backups of one app started on one UTC day.")
class BackupDayCount:
    day: date
    succeeded: int
    failed: int

    @classmethod
    def from_row(cls, r: BackupDay) -> BackupDayCount:
        return cls(day=r.day, succeeded=r.succeeded, failed=r.failed)


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
