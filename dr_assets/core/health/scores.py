"""Pure health scoring and compliance (DESIGN.md section 9): facts in, scores out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from dr_assets.core.catalog.rows import AppFacts, DrillFact
from dr_assets.core.policy import AppPolicy
from dr_assets.core.statuses import HealthStatus, Integrity

DRILL_WINDOW = timedelta(days=30)

@dataclass(frozen=True)
class AppHealth:
    app: str
    score: float
    rpo_part: float
    success_part: float
    integrity_part: float
    readiness_part: float
    backup_age_hours: float | None
    rpo_met: bool
    rto_met: bool
    success_rate_7d: float
    critical: bool


@dataclass(frozen=True)
class GlobalHealth:
    score: float
    status: str  # HealthStatus
    apps: tuple[AppHealth, ...]

    @property
    def apps_meeting_rpo(self) -> int:
        return sum(a.rpo_met for a in self.apps)

    @property
    def apps_meeting_rto(self) -> int:
        return sum(a.rto_met for a in self.apps)

    @property
    def critical_apps_healthy(self) -> int:
        return sum(1 for a in self.apps if a.critical and a.score >= 80)


def _clamp(x: float) -> float:
    return max(0.0, min(1.0, x))


def rpo_fraction(age_hours: float | None, rpo_hours: float) -> float:
    """1 up to RPO, falling linearly to 0 at 2 x RPO; 0 with no verified backup."""
    if age_hours is None:
        return 0.0
    if age_hours <= rpo_hours:
        return 1.0
    return _clamp(2.0 - age_hours / rpo_hours)


def integrity_fraction(state: str) -> float:
    return {Integrity.OK: 1.0, Integrity.OLDER_FAILED: 0.5}.get(state, 0.0)


def readiness_fraction(drill: DrillFact | None, rto_hours: float, now: datetime) -> float:
    if drill is None or not drill.passed or now - drill.finished_at > DRILL_WINDOW:
        return 0.0
    if drill.restore_seconds is not None and drill.restore_seconds <= rto_hours * 3600:
        return 1.0
    return 0.5


def backup_age_hours(facts: AppFacts, now: datetime) -> float | None:
    if facts.newest_verified_at is None:
        return None
    return max(0.0, (now - facts.newest_verified_at).total_seconds() / 3600)


def score_app(policy: AppPolicy, facts: AppFacts, now: datetime) -> AppHealth:
    age = backup_age_hours(facts, now)
    rate = facts.successes_7d / facts.attempts_7d if facts.attempts_7d else 0.0
    rpo = 40 * rpo_fraction(age, policy.rpo_hours)
    success = 25 * _clamp(rate)
    integrity = 15 * integrity_fraction(facts.integrity)
    readiness = 20 * readiness_fraction(facts.last_drill, policy.rto_hours, now)
    return AppHealth(
        app=policy.name,
        score=round(rpo + success + integrity + readiness, 2),
        rpo_part=rpo, success_part=success, integrity_part=integrity, readiness_part=readiness,
        backup_age_hours=age,
        rpo_met=age is not None and age <= policy.rpo_hours,
        rto_met=readiness_fraction(facts.last_drill, policy.rto_hours, now) == 1.0,
        success_rate_7d=rate,
        critical=policy.critical,
    )


def status_for(score: float, apps: Sequence[AppHealth]) -> str:
    if any(a.critical and a.score < 80 for a in apps):
        return HealthStatus.CRITICAL
    if score >= 90:
        return HealthStatus.HEALTHY
    if score >= 70:
        return HealthStatus.DEGRADED
    return HealthStatus.CRITICAL


def score_global(apps: Sequence[AppHealth]) -> GlobalHealth:
    """Mean of app scores, critical apps weighted 2."""
    weights = [2 if a.critical else 1 for a in apps]
    total = sum(weights)
    score = round(sum(a.score * w for a, w in zip(apps, weights, strict=True)) / total, 2) if total else 0.0
    return GlobalHealth(score=score, status=status_for(score, apps), apps=tuple(apps))
