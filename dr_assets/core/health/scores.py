"""Pure health scoring and compliance (DESIGN.md section 9): facts in, scores out.

The RPO in effect: for an app on a protected server (AppPolicy.server), the age of the
newest WAL byte at least one destination holds; for any other app, the age of its newest
verified backup, as before continuous protection.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from dr_assets.core.catalog.rows import AppFacts, DrillFact
from dr_assets.core.policy import AppPolicy
from dr_assets.core.statuses import HealthStatus, Integrity, Protection

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
    protection: str = Protection.DUMPS  # Protection: what the RPO is measured by
    rpo_seconds: float | None = None  # the RPO in effect now; None: no recovery point at all


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


def protection_of(policy: AppPolicy) -> str:
    return Protection.WAL if policy.server else Protection.DUMPS


def wal_age_seconds(facts: AppFacts, now: datetime) -> float | None:
    if facts.newest_wal_at is None:
        return None
    return max(0.0, (now - facts.newest_wal_at).total_seconds())


def rpo_in_effect(policy: AppPolicy, facts: AppFacts, now: datetime) -> tuple[float | None, bool]:
    """(the RPO in effect in hours, whether it meets the policy) for the app's protection."""
    if protection_of(policy) == Protection.WAL:
        seconds = wal_age_seconds(facts, now)
        if seconds is None:
            return None, False
        return seconds / 3600, seconds <= policy.rpo_hours * 3600
    age = backup_age_hours(facts, now)
    return age, age is not None and age <= policy.rpo_hours


def score_app(policy: AppPolicy, facts: AppFacts, now: datetime) -> AppHealth:
    age = backup_age_hours(facts, now)
    rpo_hours, rpo_met = rpo_in_effect(policy, facts, now)
    rate = facts.successes_7d / facts.attempts_7d if facts.attempts_7d else 0.0
    rpo = 40 * rpo_fraction(rpo_hours, policy.rpo_hours)
    success = 25 * _clamp(rate)
    integrity = 15 * integrity_fraction(facts.integrity)
    readiness = 20 * readiness_fraction(facts.last_drill, policy.rto_hours, now)
    return AppHealth(
        app=policy.name,
        score=round(rpo + success + integrity + readiness, 2),
        rpo_part=rpo, success_part=success, integrity_part=integrity, readiness_part=readiness,
        backup_age_hours=age,
        rpo_met=rpo_met,
        rto_met=readiness_fraction(facts.last_drill, policy.rto_hours, now) == 1.0,
        success_rate_7d=rate,
        critical=policy.critical,
        protection=protection_of(policy),
        rpo_seconds=None if rpo_hours is None else rpo_hours * 3600,
    )


def rpo_summary(policy: AppPolicy, h: AppHealth) -> str:
    """The RPO in effect in words, as the rpo_fresh check states it."""
    if h.protection == Protection.WAL:
        if h.rpo_seconds is None:
            return f"no WAL of server {policy.server} is held by any destination"
        return (f"newest WAL of server {policy.server} held by a destination is "
                f"{h.rpo_seconds:.0f} s old (RPO {policy.rpo_hours * 3600:.0f} s)")
    if h.backup_age_hours is None:
        return f"no verified backup of {policy.name}"
    return (f"newest verified backup is {h.backup_age_hours:.2f} h old "
            f"(RPO {policy.rpo_hours:g} h)")


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
