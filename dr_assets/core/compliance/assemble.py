"""Builds a ComplianceReport from catalog rows: fetching is one function, assembly is pure."""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dr_assets.core.access.audit_chain import ChainReport
from dr_assets.core.catalog import Catalog
from dr_assets.core.compliance.period import ReportPeriod
from dr_assets.core.compliance.report import (
    COVERED,
    MISSED,
    PENDING,
    AlertEvidence,
    AppEvidence,
    AuditChainEvidence,
    BackupWindow,
    ComplianceReport,
    Deletion,
    DrillEvidence,
    RestoreEvidence,
    RestoreRequest,
    VerificationFailure,
)
from dr_assets.core.policy import AppPolicy, DRConfig
from dr_assets.core.runs import scheduled_windows

Row = Mapping[str, Any]


@dataclass(frozen=True)
class EvidenceRows:
    """Everything the catalog holds about a period, as it came out of SQL."""

    backups: Sequence[Row]
    verifications: Sequence[Row]
    drills: Sequence[Row]
    deletions: Sequence[Row]
    alerts: Sequence[Row]
    restores: Sequence[Row]
    restore_requests: Sequence[Row]
    audit_chain: ChainReport


def build_report(config: DRConfig, catalog: Catalog, period: ReportPeriod,
                 now: datetime | None = None) -> ComplianceReport:
    now = now or datetime.now(UTC)
    apps = list(config.apps)
    start, end = period.start, period.end
    # Backups are read up to the end of the last window, which may reach past the period.
    window_end = max([w[1] for p in config.apps.values()
                      for w in scheduled_windows(p.every_hours, start, end)], default=end)
    rows = EvidenceRows(
        backups=catalog.evidence_backups(apps, start, window_end),
        verifications=catalog.evidence_verifications(apps, start, end),
        drills=catalog.evidence_drills(apps, start, end),
        deletions=catalog.evidence_deletions(apps, start, end),
        alerts=catalog.evidence_alerts(start, end),
        restores=catalog.evidence_restores(apps, start, end),
        restore_requests=catalog.evidence_restore_requests(start, end),
        audit_chain=catalog.verify_audit_chain(),
    )
    return assemble_report(config.apps.values(), rows, period, now)


def assemble_report(policies: Iterable[AppPolicy], rows: EvidenceRows, period: ReportPeriod,
                    now: datetime) -> ComplianceReport:
    policies = list(policies)
    names = {p.name for p in policies}
    by_app = {name: _group(getattr(rows, name)) for name in (
        "backups", "verifications", "drills", "deletions", "alerts", "restores")}
    chain = rows.audit_chain
    return ComplianceReport(
        period=period,
        generated_at=now,
        apps=tuple(_app_evidence(p, by_app, period, now) for p in policies),
        estate_alerts=tuple(_alert(r) for r in rows.alerts if r["app"] not in names),
        restore_requests=tuple(_restore_request(r) for r in rows.restore_requests),
        audit_chain=AuditChainEvidence(ok=chain.ok, entries=chain.rows,
                                       first_bad_id=chain.first_bad_id, problem=chain.problem),
    )


def _group(rows: Sequence[Row]) -> dict[str, list[Row]]:
    out: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        out[r["app"]].append(r)
    return out


def _app_evidence(policy: AppPolicy, by_app: Mapping[str, Mapping[str, list[Row]]],
                  period: ReportPeriod, now: datetime) -> AppEvidence:
    def of(kind: str) -> list[Row]:
        return list(by_app[kind].get(policy.name, []))

    checks = of("verifications")
    return AppEvidence(
        app=policy.name, critical=policy.critical, rpo_hours=policy.rpo_hours,
        rto_hours=policy.rto_hours, every_hours=policy.every_hours,
        windows=tuple(_windows(policy, of("backups"), period, now)),
        verifications_ok=sum(1 for v in checks if v["ok"]),
        verifications_failed=sum(1 for v in checks if not v["ok"]),
        verification_failures=tuple(
            VerificationFailure(v["backup_id"], v["destination"], v["checked_at"], v["error"],
                                v["expected_sha256"], v["actual_sha256"])
            for v in checks if not v["ok"]),
        drills=tuple(_drill(d) for d in of("drills")),
        deletions=tuple(Deletion(d["backup_id"], d["started_at"], d["deleted_at"], d["error"])
                        for d in of("deletions")),
        alerts=tuple(_alert(a) for a in of("alerts")),
        restores=tuple(_restore(r) for r in of("restores")),
        period=period,
    )


def _windows(policy: AppPolicy, backups: Sequence[Row], period: ReportPeriod,
             now: datetime) -> list[BackupWindow]:
    """Windows that have begun by `now`; each covered by the first verified backup inside it."""
    backups = sorted(backups, key=lambda b: (b["started_at"], b["backup_id"]))
    times = [b["started_at"] for b in backups]
    out = []
    for start, end in scheduled_windows(policy.every_hours, period.start, period.end):
        if start >= now:
            break
        inside = backups[bisect_left(times, start):bisect_left(times, end)]
        verified = next((b for b in inside if b["verified"]), None)
        if verified is not None:
            out.append(BackupWindow(start, end, COVERED, verified["backup_id"]))
            continue
        out.append(BackupWindow(start, end, PENDING if end > now else MISSED,
                                note=_why_not_covered(inside)))
    return out


def _why_not_covered(inside: Sequence[Row]) -> str | None:
    if not inside:
        return None
    parts = []
    for b in inside:
        if b["status"] == "failed":
            parts.append(f"{b['backup_id']} failed: {b['error'] or 'no reason recorded'}")
        elif b["check_failed"]:
            parts.append(f"{b['backup_id']} failed its checksum verification")
        elif b["status"] == "running":
            parts.append(f"{b['backup_id']} is still running")
        else:
            parts.append(f"{b['backup_id']} was never verified")
    return "; ".join(parts)


def _drill(d: Row) -> DrillEvidence:
    return DrillEvidence(
        drill_id=int(d["id"]), backup_id=d["backup_id"], started_at=d["started_at"],
        finished_at=d["finished_at"], status=d["status"], restore_seconds=d["restore_seconds"],
        rto_seconds=float(d["rto_seconds"]), rto_met=d["rto_met"], error=d["error"])


def _alert(a: Row) -> AlertEvidence:
    return AlertEvidence(
        alert_id=int(a["id"]), app=a["app"], kind=a["kind"], severity=a["severity"],
        message=a["message"], opened_at=a["opened_at"], resolved_at=a["resolved_at"],
        acknowledged_by=a["acknowledged_by"])


def _restore(r: Row) -> RestoreEvidence:
    return RestoreEvidence(
        restore_id=int(r["id"]), backup_id=r["backup_id"], app=r["app"],
        target_database=r["target_database"], mode=r["mode"], status=r["status"],
        started_at=r["started_at"], finished_at=r["finished_at"],
        duration_seconds=r["duration_seconds"], requested_by=r["requested_by"],
        error=r["error"])


def _restore_request(r: Row) -> RestoreRequest:
    args = r["arguments"] if isinstance(r["arguments"], Mapping) else {}
    return RestoreRequest(
        audit_id=int(r["id"]), at=r["at"], actor=r["actor"], role=r["role"],
        backup_id=args.get("backup_id"), target_database=args.get("target_database"),
        result=r["result"], detail=r["detail"])
