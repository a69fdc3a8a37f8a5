"""Pure retention: which backups to delete, and why each one stays or goes.

Rules: a backup older than retention_days goes, except a held backup (the contents check
held it as the last good one before an anomaly; only an admin's release lets it go), the
newest verified backup and the newest `min_keep` verified ones, a backup under S3 Object
Lock, or one in use. A backup is whole in itself (its dump, server objects and manifest go
together), so keeping a held backup keeps everything it needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class RetentionCandidate:
    backup_id: str
    started_at: datetime
    verified: bool
    stored_bytes: int = 0
    locked_until: datetime | None = None
    in_use: bool = False
    held_reason: str | None = None  # held: kept until an admin releases it


@dataclass(frozen=True)
class RetentionDecision:
    backup_id: str
    delete: bool
    reason: str
    stored_bytes: int = 0


@dataclass(frozen=True)
class RetentionPlan:
    app: str
    decisions: tuple[RetentionDecision, ...]

    @property
    def to_delete(self) -> list[RetentionDecision]:
        return [d for d in self.decisions if d.delete]

    @property
    def to_keep(self) -> list[RetentionDecision]:
        return [d for d in self.decisions if not d.delete]

    @property
    def bytes_freed(self) -> int:
        return sum(d.stored_bytes for d in self.to_delete)


def plan_retention(
    app: str,
    backups: Sequence[RetentionCandidate],
    retention_days: int,
    min_keep: int,
    now: datetime,
) -> RetentionPlan:
    cutoff = now - timedelta(days=retention_days)
    ordered = sorted(backups, key=lambda b: (b.started_at, b.backup_id), reverse=True)
    verified_rank = {b.backup_id: i for i, b in enumerate(x for x in ordered if x.verified)}
    decisions = []
    for b in ordered:
        rank = verified_rank.get(b.backup_id)
        age_days = (now - b.started_at).total_seconds() / 86400
        if b.held_reason is not None:
            keep, reason = True, f"held until an admin releases it: {b.held_reason}"
        elif b.started_at >= cutoff:
            keep, reason = True, f"within retention ({age_days:.1f} of {retention_days} days)"
        elif rank == 0:
            keep, reason = True, "newest verified backup: never deleted"
        elif rank is not None and rank < min_keep:
            keep, reason = True, f"one of the newest {min_keep} verified backups (min_keep)"
        elif b.in_use:
            keep, reason = True, "in use by a restore or drill: deferred to the next run"
        elif b.locked_until is not None and b.locked_until > now:
            keep, reason = True, f"under S3 Object Lock until {b.locked_until.isoformat()}"
        else:
            keep = False
            reason = f"older than {retention_days} days ({age_days:.1f} days)" + (
                "" if b.verified else ", never verified")
        decisions.append(RetentionDecision(b.backup_id, not keep, reason, b.stored_bytes))
    return RetentionPlan(app, tuple(decisions))
