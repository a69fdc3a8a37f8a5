"""The executive tiles: metrics, summary, health breakdown, storage."""

from __future__ import annotations

from datetime import datetime

import strawberry

from dr_assets.core.catalog.rows import DashboardCounts, StorageRow
from graphql_api.scalars import BigInt
from graphql_api.status.types import AppHealthBreakdown, AppStatus


@strawberry.type
class DashboardMetrics:
    total_backups: int
    success_rate_7d: float
    storage_bytes: BigInt
    average_backup_seconds: float
    average_drill_restore_seconds: float
    drills_passed_30d: int
    drills_failed_30d: int
    restores_30d: int
    active_alerts: int
    critical_alerts: int

    @classmethod
    def from_row(cls, c: DashboardCounts, storage_bytes: int) -> DashboardMetrics:
        return cls(
            total_backups=c.total_backups,
            success_rate_7d=c.succeeded_7d / c.attempted_7d if c.attempted_7d else 0.0,
            storage_bytes=storage_bytes, average_backup_seconds=c.avg_backup_seconds,
            average_drill_restore_seconds=c.avg_drill_seconds,
            drills_passed_30d=c.drills_passed_30d, drills_failed_30d=c.drills_failed_30d,
            restores_30d=c.restores_30d, active_alerts=c.active_alerts,
            critical_alerts=c.critical_alerts,
        )


@strawberry.type
class ExecutiveSummary:
    health_score: float
    status: str
    headline: str
    apps_total: int
    rpo_compliance_pct: float
    rto_compliance_pct: float
    apps_at_risk: list[AppStatus]
    storage_bytes: BigInt
    open_critical_alerts: int
    generated_at: datetime


@strawberry.type
class HealthOverview:
    score: float
    status: str
    apps: list[AppHealthBreakdown]


@strawberry.type
class StorageUsage:
    app: str
    destination: str
    bytes: BigInt
    backups: int
    growth_7d_bytes: BigInt
    growth_30d_bytes: BigInt

    @classmethod
    def from_row(cls, r: StorageRow) -> StorageUsage:
        return cls(app=r.app, destination=r.destination, bytes=r.bytes, backups=r.backups,
                   growth_7d_bytes=r.bytes - r.bytes_7d_ago,
                   growth_30d_bytes=r.bytes - r.bytes_30d_ago)
