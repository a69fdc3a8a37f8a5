"""Builds a ComplianceReport from catalog rows: fetching is one function, assembly is pure."""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from itertools import pairwise
from typing import Protocol, TypeVar

from dr_assets.core.access.audit_chain import ChainReport
from dr_assets.core.catalog import Catalog
from dr_assets.core.catalog.rows import (
    AlertRow,
    AuditRow,
    BackupCheckRow,
    DeletionRow,
    DrillRow,
    RestoreRow,
    VerificationRow,
)
from dr_assets.core.compliance.capacity import capacity_evidence
from dr_assets.core.compliance.period import ReportPeriod
from dr_assets.core.compliance.report import (
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
    WalRpoEvidence,
)
from dr_assets.core.health.forecasts import estate_forecast
from dr_assets.core.health.trend_history import estate_charts
from dr_assets.core.policy import AppPolicy, DRConfig
from dr_assets.core.runs import scheduled_windows
from dr_assets.core.statuses import BackupStatus, WindowStatus


@dataclass(frozen=True)
class EvidenceRows:
    """Everything the catalog holds about a period, as its rows."""

    backups: Sequence[BackupCheckRow]
    verifications: Sequence[VerificationRow]
    drills: Sequence[DrillRow]
    deletions: Sequence[DeletionRow]
    alerts: Sequence[AlertRow]
    restores: Sequence[RestoreRow]
    restore_requests: Sequence[AuditRow]
    audit_chain: ChainReport
    wal_receipts: Mapping[str, Sequence[datetime]] = field(default_factory=dict)  # per server


class _OfApp(Protocol):
    @property
    def app(self) -> str: ...


R = TypeVar("R", bound=_OfApp)


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
        wal_receipts=catalog.evidence_wal_receipts(
            sorted({p.server for p in config.apps.values() if p.server}), start, end),
    )
    report = assemble_report(config.apps.values(), rows, period, now)
    # Drawn up to now when the period is still running, so the storage line ends today.
    drawn_to = max(min(end, now), start)
    forecast = estate_forecast(config, catalog, now)
    trends = estate_charts(config, catalog, period.first_day,
                           min(period.last_day, drawn_to.astimezone(UTC).date()), drawn_to,
                           forecast)
    capacity = capacity_evidence(forecast, config.forecasts.window_days)
    return replace(report, trends=trends, capacity=capacity)


def assemble_report(policies: Iterable[AppPolicy], rows: EvidenceRows, period: ReportPeriod,
                    now: datetime) -> ComplianceReport:
    policies = list(policies)
    names = {p.name for p in policies}
    backups, checks, drills = _by_app(rows.backups), _by_app(rows.verifications), _by_app(rows.drills)
    deletions, alerts, restores = _by_app(rows.deletions), _by_app(rows.alerts), _by_app(rows.restores)
    chain = rows.audit_chain
    return ComplianceReport(
        period=period,
        generated_at=now,
        apps=tuple(_app_evidence(
            p, period, now, backups=backups[p.name], checks=checks[p.name], drills=drills[p.name],
            deletions=deletions[p.name], alerts=alerts[p.name], restores=restores[p.name],
            wal_rpo=_wal_rpo(p, rows.wal_receipts, period, now))
            for p in policies),
        estate_alerts=tuple(AlertEvidence.from_row(r) for r in rows.alerts if r.app not in names),
        restore_requests=tuple(RestoreRequest.from_row(r) for r in rows.restore_requests),
        audit_chain=AuditChainEvidence(ok=chain.ok, entries=chain.rows,
                                       first_bad_id=chain.first_bad_id, problem=chain.problem),
    )


def _by_app(rows: Sequence[R]) -> defaultdict[str, list[R]]:
    out: defaultdict[str, list[R]] = defaultdict(list)
    for r in rows:
        out[r.app].append(r)
    return out


def _app_evidence(policy: AppPolicy, period: ReportPeriod, now: datetime, *,
                  backups: Sequence[BackupCheckRow], checks: Sequence[VerificationRow],
                  drills: Sequence[DrillRow], deletions: Sequence[DeletionRow],
                  alerts: Sequence[AlertRow], restores: Sequence[RestoreRow],
                  wal_rpo: WalRpoEvidence | None = None) -> AppEvidence:
    return AppEvidence(
        app=policy.name, critical=policy.critical, rpo_hours=policy.rpo_hours,
        rto_hours=policy.rto_hours, every_hours=policy.every_hours,
        windows=tuple(_windows(policy, backups, period, now)),
        verifications_ok=sum(1 for v in checks if v.ok),
        verifications_failed=sum(1 for v in checks if not v.ok),
        verification_failures=tuple(VerificationFailure.from_row(v) for v in checks if not v.ok),
        drills=tuple(DrillEvidence.from_row(d) for d in drills),
        deletions=tuple(Deletion.from_row(d) for d in deletions),
        alerts=tuple(AlertEvidence.from_row(a) for a in alerts),
        restores=tuple(RestoreEvidence.from_row(r) for r in restores),
        period=period,
        wal_rpo=wal_rpo,
    )


def _wal_rpo(policy: AppPolicy, receipts: Mapping[str, Sequence[datetime]],
             period: ReportPeriod, now: datetime) -> WalRpoEvidence | None:
    """The longest stretch of the period (up to now) without WAL reaching the stores."""
    if not policy.server:
        return None
    times = sorted(receipts.get(policy.server, ()))
    end = min(period.end, now)
    in_period = [t for t in times if period.start <= t < end]
    gap: float | None = None
    if times and times[0] < end:  # from the first WAL held (protection may begin mid-period)
        marks = [*[t for t in times if t < end], end]
        gap = max(max(0.0, (b - max(a, period.start)).total_seconds())
                  for a, b in pairwise(marks))
    return WalRpoEvidence(policy.server, len(in_period), gap, policy.rpo_hours * 3600)


def _windows(policy: AppPolicy, backups: Sequence[BackupCheckRow], period: ReportPeriod,
             now: datetime) -> list[BackupWindow]:
    """Windows that have begun by `now`; each covered by the first verified backup inside it."""
    backups = sorted(backups, key=lambda b: (b.started_at, b.backup_id))
    times = [b.started_at for b in backups]
    out = []
    for start, end in scheduled_windows(policy.every_hours, period.start, period.end):
        if start >= now:
            break
        inside = backups[bisect_left(times, start):bisect_left(times, end)]
        verified = next((b for b in inside if b.verified), None)
        if verified is not None:
            out.append(BackupWindow(start, end, WindowStatus.COVERED, verified.backup_id))
            continue
        out.append(BackupWindow(start, end,
                                WindowStatus.PENDING if end > now else WindowStatus.MISSED,
                                note=_why_not_covered(inside)))
    return out


def _why_not_covered(inside: Sequence[BackupCheckRow]) -> str | None:
    if not inside:
        return None
    parts = []
    for b in inside:
        if b.status == BackupStatus.FAILED:
            parts.append(f"{b.backup_id} failed: {b.error or 'no reason recorded'}")
        elif b.check_failed:
            parts.append(f"{b.backup_id} failed its checksum verification")
        elif b.status == BackupStatus.RUNNING:
            parts.append(f"{b.backup_id} is still running")
        else:
            parts.append(f"{b.backup_id} was never verified")
    return "; ".join(parts)
