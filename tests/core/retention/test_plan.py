"""Retention rules on synthetic histories: exactly what the rules say goes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dr_assets.core.retention.plan import RetentionCandidate, plan_retention

NOW = datetime(2026, 11, 26, tzinfo=UTC)


def backup(days_ago: float, verified: bool = True, **kw: object) -> RetentionCandidate:
    at = NOW - timedelta(days=days_ago)
    return RetentionCandidate(f"app-{at:%Y%m%dT%H%M%S}Z-0000", at, verified, 100, **kw)  # type: ignore[arg-type]


def deleted(plan: object) -> list[str]:
    return sorted(d.backup_id for d in plan.to_delete)  # type: ignore[attr-defined]


def test_daily_history_keeps_the_window() -> None:
    history = [backup(d) for d in range(0, 120)]
    plan = plan_retention("app", history, retention_days=90, min_keep=3, now=NOW)
    assert len(plan.to_delete) == 120 - 91  # days 0..90 inclusive stay
    assert all("older than 90 days" in d.reason for d in plan.to_delete)
    assert plan.bytes_freed == 29 * 100


def test_newest_verified_is_never_deleted() -> None:
    history = [backup(200), backup(150, verified=False), backup(100, verified=False)]
    plan = plan_retention("app", history, retention_days=30, min_keep=1, now=NOW)
    assert deleted(plan) == sorted([history[1].backup_id, history[2].backup_id])
    [kept] = plan.to_keep
    assert kept.backup_id == history[0].backup_id and "newest verified" in kept.reason


def test_min_keep_verified_survive_even_when_expired() -> None:
    history = [backup(d) for d in (40, 50, 60, 70, 80)] + [backup(45, verified=False)]
    plan = plan_retention("app", history, retention_days=30, min_keep=3, now=NOW)
    kept = {d.backup_id for d in plan.to_keep}
    assert kept == {history[0].backup_id, history[1].backup_id, history[2].backup_id}
    assert history[5].backup_id in deleted(plan)  # unverified does not count toward min_keep


def test_locked_and_in_use_backups_stay_and_say_why() -> None:
    history = [backup(1), backup(2), backup(3), backup(100, locked_until=NOW + timedelta(days=5)),
               backup(101, in_use=True), backup(102)]
    plan = plan_retention("app", history, retention_days=30, min_keep=3, now=NOW)
    assert deleted(plan) == [history[5].backup_id]
    reasons = {d.backup_id: d.reason for d in plan.decisions}
    assert "Object Lock" in reasons[history[3].backup_id]
    assert "in use" in reasons[history[4].backup_id]


def test_empty_history() -> None:
    assert plan_retention("app", [], 30, 3, NOW).decisions == ()
