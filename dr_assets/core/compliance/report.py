"""The compliance evidence report as plain, frozen data: what auditors read, in any format.

The evidence of each kind is built from its catalog row (`from_row`), and keeps only what
auditors are shown, under the names the report has always used (`drill_id`, `reason`...).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import UTC, date, datetime
from typing import Any

from dr_assets.core.catalog.rows import AlertRow, AuditRow, DeletionRow, DrillRow, RestoreRow, VerificationRow
from dr_assets.core.charts.trend import TrendChart
from dr_assets.core.compliance.capacity import CapacityEvidence
from dr_assets.core.compliance.period import ReportPeriod
from dr_assets.core.policy import drill_kind
from dr_assets.core.statuses import DrillStatus, Protection, WindowStatus


@dataclass(frozen=True)
class BackupWindow:
    start: datetime
    end: datetime
    status: str  # WindowStatus
    backup_id: str | None = None  # the first verified backup inside the window
    note: str | None = None  # why a window without a verified backup is not covered


@dataclass(frozen=True)
class VerificationFailure:
    backup_id: str
    destination: str
    checked_at: datetime
    error: str | None
    expected_sha256: str | None
    actual_sha256: str | None

    @classmethod
    def from_row(cls, v: VerificationRow) -> VerificationFailure:
        return cls(v.backup_id, v.destination, v.checked_at, v.error, v.expected_sha256,
                   v.actual_sha256)


@dataclass(frozen=True)
class DrillEvidence:
    drill_id: int
    backup_id: str | None
    started_at: datetime
    finished_at: datetime | None
    status: str  # DrillStatus.PASSED | DrillStatus.FAILED
    restore_seconds: float | None
    rto_seconds: float
    rto_met: bool | None
    error: str | None
    target: str  # DrillTarget: where the drill restored
    server_version: str | None  # isolated: the empty server's
    instance_start_seconds: float | None  # isolated: its start-up, not in restore_seconds

    @classmethod
    def from_row(cls, d: DrillRow) -> DrillEvidence:
        return cls(drill_id=d.id, backup_id=d.backup_id, started_at=d.started_at,
                   finished_at=d.finished_at, status=d.status, restore_seconds=d.restore_seconds,
                   rto_seconds=float(d.rto_seconds), rto_met=d.rto_met, error=d.error,
                   target=d.target, server_version=d.server_version,
                   instance_start_seconds=d.instance_start_seconds)

    @property
    def kind(self) -> str:
        return drill_kind(self.target, self.server_version)

    @property
    def proves_rto(self) -> bool:
        return self.status == DrillStatus.PASSED and bool(self.rto_met)


@dataclass(frozen=True)
class Deletion:
    backup_id: str
    started_at: datetime
    deleted_at: datetime
    reason: str | None

    @classmethod
    def from_row(cls, d: DeletionRow) -> Deletion:
        return cls(d.backup_id, d.started_at, d.deleted_at, reason=d.error)


@dataclass(frozen=True)
class AlertEvidence:
    alert_id: int
    app: str
    kind: str
    severity: str
    message: str
    opened_at: datetime
    resolved_at: datetime | None
    acknowledged_by: str | None

    @classmethod
    def from_row(cls, a: AlertRow) -> AlertEvidence:
        return cls(alert_id=a.id, app=a.app, kind=a.kind, severity=a.severity, message=a.message,
                   opened_at=a.opened_at, resolved_at=a.resolved_at,
                   acknowledged_by=a.acknowledged_by)


@dataclass(frozen=True)
class RestoreEvidence:
    restore_id: int
    backup_id: str
    app: str
    target_database: str
    mode: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    duration_seconds: float | None
    requested_by: str | None
    error: str | None

    @classmethod
    def from_row(cls, r: RestoreRow) -> RestoreEvidence:
        return cls(restore_id=r.id, backup_id=r.backup_id, app=r.app,
                   target_database=r.target_database, mode=r.mode, status=r.status,
                   started_at=r.started_at, finished_at=r.finished_at,
                   duration_seconds=r.duration_seconds, requested_by=r.requested_by,
                   error=r.error)


@dataclass(frozen=True)
class RestoreRequest:
    """An audit log entry of a restore request (of a backup, or of an app to a moment of
    its WAL): who asked, and what came of it."""

    audit_id: int
    at: datetime
    actor: str
    role: str
    backup_id: str | None
    target_database: str | None
    result: str
    detail: str | None
    # A point-in-time request: the app and the moment asked for (time, LSN or "latest").
    app: str | None = None
    recovery_target: str | None = None

    @classmethod
    def from_row(cls, e: AuditRow) -> RestoreRequest:
        args = e.arguments if isinstance(e.arguments, Mapping) else {}
        moment = args.get("to_time") or args.get("to_lsn") or (
            "latest" if args.get("to_latest") else None)
        return cls(audit_id=e.id, at=e.at, actor=e.actor, role=e.role,
                   backup_id=args.get("backup_id"), target_database=args.get("target_database"),
                   result=e.result, detail=e.detail,
                   app=args.get("app") if moment else None,
                   recovery_target=str(moment) if moment else None)

    @property
    def source(self) -> str | None:
        """What the restore was to come from: the backup id, or `APP at MOMENT`."""
        if self.recovery_target is not None:
            return f"{self.app} at {self.recovery_target}"
        return self.backup_id


@dataclass(frozen=True)
class AuditChainEvidence:
    ok: bool
    entries: int
    first_bad_id: int | None
    problem: str | None


@dataclass(frozen=True)
class WalRpoEvidence:
    """A protected app's RPO as measured from its server's WAL over the period: the longest
    stretch without a WAL file reaching the stores (between completed segments, and from the
    last one to the period's end or now), an upper bound of what a failure could have lost."""

    server: str
    receipts: int  # WAL files recorded as held by a destination, in the period
    longest_gap_seconds: float | None  # None: no WAL at all up to the period's end
    rpo_seconds: float  # the policy's

    @property
    def met(self) -> bool:
        return self.longest_gap_seconds is not None and self.longest_gap_seconds <= self.rpo_seconds


@dataclass(frozen=True)
class AppEvidence:
    app: str
    critical: bool
    rpo_hours: float
    rto_hours: float
    every_hours: int
    windows: tuple[BackupWindow, ...]
    verifications_ok: int
    verifications_failed: int
    verification_failures: tuple[VerificationFailure, ...]
    drills: tuple[DrillEvidence, ...]
    deletions: tuple[Deletion, ...]
    alerts: tuple[AlertEvidence, ...]
    restores: tuple[RestoreEvidence, ...]
    period: ReportPeriod = field(repr=False)
    wal_rpo: WalRpoEvidence | None = None  # protected apps: the RPO measured from WAL

    @property
    def protection(self) -> str:
        return Protection.WAL if self.wal_rpo is not None else Protection.DUMPS

    def _windows(self, status: str) -> int:
        return sum(1 for w in self.windows if w.status == status)

    @property
    def windows_covered(self) -> int:
        return self._windows(WindowStatus.COVERED)

    @property
    def windows_missed(self) -> int:
        return self._windows(WindowStatus.MISSED)

    @property
    def windows_pending(self) -> int:
        return self._windows(WindowStatus.PENDING)

    @property
    def rpo_coverage_pct(self) -> float | None:
        """Covered share of the windows that are over (pending ones are not judged yet)."""
        judged = self.windows_covered + self.windows_missed
        return round(100 * self.windows_covered / judged, 1) if judged else None

    @property
    def drills_passed(self) -> int:
        return sum(1 for d in self.drills if d.status == DrillStatus.PASSED)

    @property
    def drills_within_rto(self) -> int:
        return sum(1 for d in self.drills if d.proves_rto)

    @property
    def proved_by(self) -> str | None:
        """The kind of the newest drill in the period that passed within the RTO."""
        proofs = [d for d in self.drills if d.proves_rto]
        return proofs[-1].kind if proofs else None

    @property
    def alerts_opened(self) -> int:
        return sum(1 for a in self.alerts if self.period.contains(a.opened_at))

    @property
    def alerts_resolved(self) -> int:
        return sum(1 for a in self.alerts if self.period.contains(a.resolved_at))

    def summary(self) -> dict[str, Any]:
        return {
            "app": self.app, "critical": self.critical, "rpo_hours": self.rpo_hours,
            "rto_hours": self.rto_hours, "every_hours": self.every_hours,
            "windows_total": len(self.windows), "windows_covered": self.windows_covered,
            "windows_missed": self.windows_missed, "windows_pending": self.windows_pending,
            "rpo_coverage_pct": self.rpo_coverage_pct,
            "verifications_ok": self.verifications_ok,
            "verifications_failed": self.verifications_failed,
            "drills": len(self.drills), "drills_passed": self.drills_passed,
            "drills_within_rto": self.drills_within_rto, "proved_by": self.proved_by,
            "deletions": len(self.deletions),
            "alerts_opened": self.alerts_opened, "alerts_resolved": self.alerts_resolved,
            "restores": len(self.restores),
            "protection": self.protection,
            "wal_longest_gap_seconds": (self.wal_rpo.longest_gap_seconds
                                        if self.wal_rpo is not None else None),
            "wal_rpo_met": self.wal_rpo.met if self.wal_rpo is not None else None,
        }


@dataclass(frozen=True)
class ComplianceReport:
    period: ReportPeriod
    generated_at: datetime
    apps: tuple[AppEvidence, ...]
    estate_alerts: tuple[AlertEvidence, ...]  # alerts not tied to a configured app
    restore_requests: tuple[RestoreRequest, ...]
    audit_chain: AuditChainEvidence
    # What the Trends section draws (the status page's pictures over the period): every
    # app's restore time and backup sizes, then the estate's storage. Not in the JSON or
    # CSV, whose rows already carry these numbers.
    trends: tuple[TrendChart, ...] = ()
    # The forecast figures when the report was made (compliance/capacity.py); None: not built.
    capacity: CapacityEvidence | None = None

    @property
    def restores_by_requester(self) -> dict[str, int]:
        """Restores performed in the period, counted by who asked for them."""
        counts = Counter(r.requested_by or "unknown" for a in self.apps for r in a.restores)
        return dict(sorted(counts.items()))

    def totals(self) -> dict[str, Any]:
        judged = sum(a.windows_covered + a.windows_missed for a in self.apps)
        covered = sum(a.windows_covered for a in self.apps)
        return {
            "windows_total": sum(len(a.windows) for a in self.apps),
            "windows_covered": covered,
            "windows_missed": sum(a.windows_missed for a in self.apps),
            "rpo_coverage_pct": round(100 * covered / judged, 1) if judged else None,
            "verifications_ok": sum(a.verifications_ok for a in self.apps),
            "verifications_failed": sum(a.verifications_failed for a in self.apps),
            "drills": sum(len(a.drills) for a in self.apps),
            "drills_within_rto": sum(a.drills_within_rto for a in self.apps),
            "deletions": sum(len(a.deletions) for a in self.apps),
            "restores": sum(len(a.restores) for a in self.apps),
            "restore_requests": len(self.restore_requests),
        }

    def to_dict(self) -> dict[str, Any]:
        """The whole report as JSON-ready data (times in ISO 8601, UTC)."""
        return {
            "report": "pg-dr-control compliance evidence",
            "period": {"from": self.period.first_day.isoformat(),
                       "to": self.period.last_day.isoformat(),
                       "start": self.period.start.isoformat(), "end": self.period.end.isoformat()},
            "generated_at": plain(self.generated_at),
            "totals": self.totals(),
            "summary": [a.summary() for a in self.apps],
            "audit_chain": plain(self.audit_chain),
            "restores_by_requester": self.restores_by_requester,
            "restore_requests": [plain(r) for r in self.restore_requests],
            "estate_alerts": [plain(a) for a in self.estate_alerts],
            "apps": [{**a.summary(), **{f.name: plain(getattr(a, f.name)) for f in fields(a)
                                        if f.name not in ("app", "period")}}
                     for a in self.apps],
        }


def plain(value: Any) -> Any:
    """Dataclasses, tuples and times as JSON-ready values."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, tuple | list):
        return [plain(v) for v in value]
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()  # whatever the catalog session's zone was
    if isinstance(value, date):
        return value.isoformat()
    return value
