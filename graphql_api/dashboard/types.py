"""The executive tiles: metrics, summary, health breakdown, storage."""

from __future__ import annotations

from datetime import datetime

import strawberry

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
