"""Viewer queries for executive dashboards."""

from __future__ import annotations

import strawberry

from graphql_api.context import Info
from graphql_api.dashboard.types import DashboardMetrics, ExecutiveSummary, HealthOverview, StorageUsage
from graphql_api.permissions import IsViewer
from graphql_api.status.queries import app_statuses
from graphql_api.status.types import AppHealthBreakdown


@strawberry.type
class DashboardQueries:
    @strawberry.field(permission_classes=[IsViewer])
    def dashboard_metrics(self, info: Info) -> DashboardMetrics:
        c = info.context.catalog.dashboard_counts(info.context.now)
        storage = sum(r["bytes"] for r in info.context.catalog.storage_by_destination(
            info.context.now))
        attempted = int(c["attempted_7d"])
        return DashboardMetrics(
            total_backups=int(c["total_backups"]),
            success_rate_7d=int(c["succeeded_7d"]) / attempted if attempted else 0.0,
            storage_bytes=storage, average_backup_seconds=float(c["avg_backup_seconds"]),
            average_drill_restore_seconds=float(c["avg_drill_seconds"]),
            drills_passed_30d=int(c["drills_passed_30d"]),
            drills_failed_30d=int(c["drills_failed_30d"]), restores_30d=int(c["restores_30d"]),
            active_alerts=int(c["active_alerts"]), critical_alerts=int(c["critical_alerts"]),
        )

    @strawberry.field(permission_classes=[IsViewer])
    def executive_summary(self, info: Info) -> ExecutiveSummary:
        ctx = info.context
        apps = app_statuses(ctx)
        g = ctx.state.estate().health
        at_risk = [a for a in apps if not (a.rpo_met and a.rto_met) or a.health_score < 80]
        n = len(apps) or 1
        counts = ctx.catalog.dashboard_counts(ctx.now)
        headline = (f"All {len(apps)} applications are backed up, verified and restorable "
                    "within their RTO" if not at_risk else
                    f"{len(at_risk)} of {len(apps)} applications need attention: "
                    + ", ".join(a.name for a in at_risk))
        return ExecutiveSummary(
            health_score=g.score, status=g.status, headline=headline, apps_total=len(apps),
            rpo_compliance_pct=round(100 * sum(a.rpo_met for a in apps) / n, 1),
            rto_compliance_pct=round(100 * sum(a.rto_met for a in apps) / n, 1),
            apps_at_risk=at_risk, storage_bytes=sum(a.storage_bytes for a in apps),
            open_critical_alerts=int(counts["critical_alerts"]), generated_at=ctx.now,
        )

    @strawberry.field(permission_classes=[IsViewer])
    def health_overview(self, info: Info) -> HealthOverview:
        g = info.context.state.estate().health
        return HealthOverview(score=g.score, status=g.status,
                              apps=[AppHealthBreakdown.from_health(a) for a in g.apps])

    @strawberry.field(permission_classes=[IsViewer])
    def storage_utilization(self, info: Info) -> list[StorageUsage]:
        return [
            StorageUsage(app=r["app"], destination=r["destination"], bytes=r["bytes"],
                         backups=r["backups"], growth_7d_bytes=r["bytes"] - r["bytes_7d_ago"],
                         growth_30d_bytes=r["bytes"] - r["bytes_30d_ago"])
            for r in info.context.catalog.storage_by_destination(info.context.now)
        ]
