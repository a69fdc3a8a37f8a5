"""The health formula of DESIGN.md section 9, at each boundary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dr_assets.core.catalog.rows import AppFacts, DrillFact
from dr_assets.core.health.scores import score_app, score_global
from dr_assets.core.policy import AppPolicy
from dr_assets.core.statuses import HealthStatus, Integrity

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
POLICY = AppPolicy("scholarship_api", "postgresql://x@h/db", rto_hours=4, rpo_hours=24,
                   every_hours=6, retention_days=90, critical=True)


def facts(age_hours: float | None = 1, attempts: int = 28, successes: int = 28,
          integrity: str = Integrity.OK, drill: DrillFact | None = None) -> AppFacts:
    drill = drill if drill is not None else DrillFact(True, NOW - timedelta(days=1), 600)
    return AppFacts(
        app="scholarship_api",
        newest_verified_at=None if age_hours is None else NOW - timedelta(hours=age_hours),
        attempts_7d=attempts, successes_7d=successes, integrity=integrity, last_drill=drill,
    )


def test_perfect_app_scores_100() -> None:
    h = score_app(POLICY, facts(), NOW)
    assert h.score == 100 and h.rpo_met and h.rto_met


@pytest.mark.parametrize(("age", "rpo_part", "met"), [
    (24, 40.0, True),       # exactly RPO old: still full marks
    (36, 20.0, False),      # halfway to 2 x RPO
    (48, 0.0, False),       # exactly 2 x RPO
    (100, 0.0, False),
    (None, 0.0, False),     # no verified backup at all
])
def test_rpo_part(age: float | None, rpo_part: float, met: bool) -> None:
    h = score_app(POLICY, facts(age_hours=age), NOW)
    assert h.rpo_part == pytest.approx(rpo_part) and h.rpo_met is met


def test_success_rate_and_nothing_attempted() -> None:
    assert score_app(POLICY, facts(attempts=4, successes=3), NOW).success_part == pytest.approx(18.75)
    assert score_app(POLICY, facts(attempts=0, successes=0), NOW).success_part == 0


@pytest.mark.parametrize(("state", "part"), [
    (Integrity.OK, 15), (Integrity.OLDER_FAILED, 7.5), (Integrity.NEWEST_FAILED, 0),
    (Integrity.UNKNOWN, 0),
])
def test_integrity_part(state: str, part: float) -> None:
    assert score_app(POLICY, facts(integrity=state), NOW).integrity_part == part


@pytest.mark.parametrize(("drill", "part", "rto_met"), [
    (DrillFact(True, NOW - timedelta(days=1), 4 * 3600), 20, True),     # exactly at RTO
    (DrillFact(True, NOW - timedelta(days=1), 4 * 3600 + 1), 10, False),  # just over RTO
    (DrillFact(False, NOW - timedelta(days=1), 60), 0, False),          # failed drill
    (DrillFact(True, NOW - timedelta(days=30), 60), 20, True),           # exactly 30 days
    (DrillFact(True, NOW - timedelta(days=30, seconds=1), 60), 0, False),  # too old
])
def test_readiness_part(drill: DrillFact, part: float, rto_met: bool) -> None:
    h = score_app(POLICY, facts(drill=drill), NOW)
    assert h.readiness_part == part and h.rto_met is rto_met


def test_no_history_scores_zero() -> None:
    empty = AppFacts("scholarship_api", None, 0, 0, Integrity.UNKNOWN, None)
    h = score_app(POLICY, empty, NOW)
    assert h.score == 0 and not h.rpo_met and not h.rto_met
    assert score_global([h]).status == HealthStatus.CRITICAL


def test_global_weights_critical_apps_twice_and_status_bands() -> None:
    minor = AppPolicy("student_dashboard", "postgresql://x@h/db", 8, 48, 12, 30, critical=False)
    critical_ok = score_app(POLICY, facts(), NOW)                       # 100
    minor_bad = score_app(minor, facts(age_hours=None), NOW)            # 60
    g = score_global([critical_ok, minor_bad])
    assert g.score == pytest.approx((100 * 2 + 60) / 3, abs=0.01)
    assert g.status == HealthStatus.DEGRADED
    assert score_global([critical_ok]).status == HealthStatus.HEALTHY
    # A critical app under 80 makes the estate CRITICAL whatever the mean.
    critical_low = score_app(POLICY, facts(integrity=Integrity.NEWEST_FAILED,
                                           drill=DrillFact(True, NOW, 5 * 3600)), NOW)  # 75
    fine = [score_app(minor, facts(), NOW) for _ in range(5)]
    g = score_global([critical_low, *fine])
    assert critical_low.score == 75 and g.score > 90 and g.status == HealthStatus.CRITICAL


def test_status_band_edges() -> None:
    from dr_assets.core.health.scores import status_for

    assert status_for(90, []) == HealthStatus.HEALTHY
    assert status_for(89.99, []) == HealthStatus.DEGRADED
    assert status_for(70, []) == HealthStatus.DEGRADED
    assert status_for(69.99, []) == HealthStatus.CRITICAL
