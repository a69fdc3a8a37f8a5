"""The RPO in effect for an app on a protected server is the age of the newest WAL byte a
destination holds, not its dump cadence: in the score, rpo_fresh's words and the alert."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from dr_assets.core.catalog.rows import AppFacts, DrillFact
from dr_assets.core.health.alerting import RPO_VIOLATED, evaluate, rpo_message
from dr_assets.core.health.scores import rpo_summary, score_app
from dr_assets.core.policy import AppPolicy
from dr_assets.core.statuses import Integrity, Protection

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
DUMPS = AppPolicy("shop", "postgresql://x@h/shop", rto_hours=4, rpo_hours=1, every_hours=6,
                  retention_days=90, critical=True)
WAL = replace(DUMPS, server="main")


def facts(wal_age_s: float | None, dump_age_h: float | None = None) -> AppFacts:
    return AppFacts(
        app="shop",
        newest_verified_at=None if dump_age_h is None else NOW - timedelta(hours=dump_age_h),
        attempts_7d=1, successes_7d=1, integrity=Integrity.OK,
        last_drill=DrillFact(True, NOW - timedelta(days=1), 60),
        newest_wal_at=None if wal_age_s is None else NOW - timedelta(seconds=wal_age_s))


def test_fresh_wal_meets_the_rpo_without_any_dump() -> None:
    h = score_app(WAL, facts(wal_age_s=12), NOW)
    assert h.protection == Protection.WAL and h.rpo_met
    assert h.rpo_seconds == pytest.approx(12) and h.rpo_part == 40
    assert h.backup_age_hours is None  # the dump age keeps its meaning
    assert "12 s old (RPO 3600 s)" in rpo_summary(WAL, h)


@pytest.mark.parametrize(("wal_age_s", "rpo_part", "met"), [
    (3600, 40.0, True),     # exactly the RPO
    (3601, pytest.approx(40 * (2 - 3601 / 3600)), False),
    (5400, 20.0, False),    # halfway to 2 x RPO
    (7200, 0.0, False),
    (None, 0.0, False),     # no WAL held anywhere
])
def test_wal_age_against_the_policy(wal_age_s: float | None, rpo_part: object, met: bool) -> None:
    h = score_app(WAL, facts(wal_age_s, dump_age_h=0.1), NOW)  # a fresh dump does not help
    assert h.rpo_part == rpo_part and h.rpo_met is met


def test_stale_wal_opens_an_alert_naming_rpo_seconds() -> None:
    h = score_app(WAL, facts(wal_age_s=7200), NOW)
    [alert] = [c for c in evaluate({"shop": WAL}, {"shop": facts(7200)}, {"shop": h}, NOW)
               if c.kind == RPO_VIOLATED]
    assert "rpo_seconds 7200 over the policy's 3600" in alert.message
    assert "server main" in alert.message
    missing = score_app(WAL, facts(None), NOW)
    assert "no WAL of server main is held by any destination" in rpo_message(WAL, missing)


def test_apps_without_a_server_keep_the_dump_rule() -> None:
    # WAL recorded for the app's name means nothing without a server in its policy.
    h = score_app(DUMPS, facts(wal_age_s=1, dump_age_h=2), NOW)
    assert h.protection == Protection.DUMPS and not h.rpo_met
    assert h.rpo_seconds == pytest.approx(7200) and h.backup_age_hours == pytest.approx(2)
    assert "newest verified backup is 2.0 h old" in rpo_message(DUMPS, h)
