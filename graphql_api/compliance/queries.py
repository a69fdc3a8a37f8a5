"""Viewer query: complianceReport(from, to)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import strawberry

from dr_assets.core.compliance import ReportPeriod, build_report
from graphql_api.compliance.types import ComplianceReport
from graphql_api.context import Info
from graphql_api.permissions import IsViewer


@strawberry.type
class ComplianceQueries:
    @strawberry.field(permission_classes=[IsViewer],
                      description="Compliance evidence from `from` to `to`, both UTC days "
                                  "included, at most 366 days (viewer).")
    def compliance_report(self, info: Info,
                          from_: Annotated[date, strawberry.argument(name="from")],
                          to: date) -> ComplianceReport:
        ctx = info.context
        period = ReportPeriod.of(from_, to)
        return ComplianceReport.from_evidence(build_report(ctx.config, ctx.catalog, period,
                                                           ctx.now))
