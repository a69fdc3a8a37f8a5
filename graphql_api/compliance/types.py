"""Types of the compliance report: typed summary fields, and the whole report as JSON."""

from __future__ import annotations

from datetime import date, datetime

import strawberry

from dr_assets.core.compliance import ComplianceReport as Evidence
from dr_assets.core.compliance.report import AppEvidence
from graphql_api.scalars import JSON


@strawberry.type(description="One app's evidence in the period, counted.")
class ComplianceAppSummary:
    app: str
    critical: bool
    rpo_hours: float
    rto_hours: float
    every_hours: int
    windows_total: int
    windows_covered: int = strawberry.field(
        description="Windows in which a backup that passed a checksum verification started.")
    windows_missed: int
    windows_pending: int = strawberry.field(description="Windows still open, not yet covered.")
    rpo_coverage_pct: float | None
    verifications_ok: int
    verifications_failed: int
    drills: int
    drills_passed: int
    drills_within_rto: int
    proved_by: str | None = strawberry.field(
        description="Which kind of drill proved the app within the RTO (the newest that did): "
                    "\"isolated (empty PostgreSQL 15 server)\" or \"same server\"; null when none did.")
    deletions: int
    alerts_opened: int
    alerts_resolved: int
    restores: int
    protection: str = strawberry.field(
        description="What the app's RPO is measured by: `wal` (its server's WAL, see "
                    "walLongestGapSeconds) or `dumps` (the backup windows).")
    wal_longest_gap_seconds: float | None = strawberry.field(
        description="Protected apps: the longest stretch of the period without WAL reaching "
                    "the stores (an upper bound of what a failure could have lost).")
    wal_rpo_met: bool | None = strawberry.field(
        description="Protected apps: whether that stretch stayed within the RPO.")

    @classmethod
    def from_evidence(cls, a: AppEvidence) -> ComplianceAppSummary:
        return cls(**a.summary())


@strawberry.type(description="Restores performed in the period by one requester.")
class RequesterRestores:
    requested_by: str
    restores: int


@strawberry.type(description="Compliance evidence of a period (first and last day included).")
class ComplianceReport:
    period_from: date
    period_to: date
    generated_at: datetime
    windows_total: int
    windows_covered: int
    windows_missed: int
    rpo_coverage_pct: float | None
    verifications_ok: int
    verifications_failed: int
    drills: int
    drills_within_rto: int
    deletions: int
    restores: int
    restore_requests: int
    restores_by_requester: list[RequesterRestores]
    audit_chain_ok: bool
    audit_chain_entries: int
    audit_chain_problem: str | None
    apps: list[ComplianceAppSummary]
    report: JSON = strawberry.field(description="The whole report, as `drctl report --json` "
                                                "prints it: every window and record.")

    @classmethod
    def from_evidence(cls, e: Evidence) -> ComplianceReport:
        t = e.totals()
        return cls(
            period_from=e.period.first_day, period_to=e.period.last_day,
            generated_at=e.generated_at, windows_total=t["windows_total"],
            windows_covered=t["windows_covered"], windows_missed=t["windows_missed"],
            rpo_coverage_pct=t["rpo_coverage_pct"], verifications_ok=t["verifications_ok"],
            verifications_failed=t["verifications_failed"], drills=t["drills"],
            drills_within_rto=t["drills_within_rto"], deletions=t["deletions"],
            restores=t["restores"], restore_requests=t["restore_requests"],
            restores_by_requester=[RequesterRestores(requested_by=who, restores=n)
                                   for who, n in e.restores_by_requester.items()],
            audit_chain_ok=e.audit_chain.ok, audit_chain_entries=e.audit_chain.entries,
            audit_chain_problem=e.audit_chain.problem,
            apps=[ComplianceAppSummary.from_evidence(a) for a in e.apps],
            report=e.to_dict(),
        )
