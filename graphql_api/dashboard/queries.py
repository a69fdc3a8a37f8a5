"""Viewer queries for executive dashboards."""

from __future__ import annotations

import strawberry

from graphql_api.context import Info
from graphql_api.dashboard.types import DashboardMetrics, ExecutiveSummary, HealthOverview, StorageUsage
from graphql_api.permissions import IsViewer
from graphql_api.status.forecast import StorageForecastType
from graphql_api.status.queries import app_statuses
from graphql_api.status.types import AppHealthBreakdown


@strawberry.type
class DashboardQueries:
    @strawberry.field(permission_classes=[IsViewer])
    def dashboard_metrics(self, info: Info) -> DashboardMetrics:
        ctx = info.context
        storage = sum(r.bytes for r in ctx.catalog.storage_by_destination(ctx.now))
        return DashboardMetrics.from_row(ctx.catalog.dashboard_counts(ctx.now), storage)

    @strawberry.field(permission_classes=[IsViewer])
    def executive_summary(self, info: Info) -> ExecutiveSummary:
        ctx = info.context
        estate = ctx.state.estate()
        g = estate.health
        apps = g.apps
        at_risk = [a.app for a in apps if not (a.rpo_met and a.rto_met) or a.score < 80]
        n = len(apps) or 1
        headline = (f"All {len(apps)} applications are backed up, verified and restorable "
                    "within their RTO" if not at_risk else
                    f"{len(at_risk)} of {len(apps)} applications need attention: "
                    + ", ".join(at_risk))
        return ExecutiveSummary(
            health_score=g.score, status=g.status, headline=headline, apps_total=len(apps),
            rpo_compliance_pct=round(100 * sum(a.rpo_met for a in apps) / n, 1),
            rto_compliance_pct=round(100 * sum(a.rto_met for a in apps) / n, 1),
            apps_at_risk=app_statuses(ctx, only=at_risk),
            storage_bytes=sum(estate.facts[a.app].stored_bytes for a in apps),
            open_critical_alerts=ctx.catalog.alert_counts().critical, generated_at=ctx.now,
        )

    @strawberry.field(permission_classes=[IsViewer])
    def health_overview(self, info: Info) -> HealthOverview:
        g = info.context.state.estate().health
        return HealthOverview(score=g.score, status=g.status,
                              apps=[AppHealthBreakdown.from_health(a) for a in g.apps])

    @strawberry.field(permission_classes=[IsViewer],
                      description="Estate storage towards `[storage] quota_gb` and each "
                                  "protected server's slot towards its limit (viewer).")
    def storage_forecast(self, info: Info) -> StorageForecastType:
        return StorageForecastType.from_forecast(info.context.state.forecast(),
                                                 info.context.config.storage_quota_bytes)

    @strawberry.field(permission_classes=[IsViewer])
    def storage_utilization(self, info: Info) -> list[StorageUsage]:
        return [StorageUsage.from_row(r)
                for r in info.context.catalog.storage_by_destination(info.context.now)]
