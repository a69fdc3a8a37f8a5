"""Start offsets and due backups, as pure functions: each window's backup is due once, at
its end plus the app's offset; offsets are stable, spread, and dr.toml's when set; a
launcher that looked at contiguous stretches requests every window exactly once."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from dr_assets.core.policy import AppPolicy
from dr_assets.core.runs import PARTITION_FMT, backup_partition
from dr_assets.core.scheduling.due import (
    FIRST_LOOK,
    LONGEST_LOOK,
    due_backup,
    due_backups,
    look_after,
)
from dr_assets.core.scheduling.offsets import hashed_offset_minutes, start_offset

T0 = datetime(2026, 11, 10, tzinfo=UTC)


def policy(name: str, every_hours: int, offset: int | None = None) -> AppPolicy:
    return AppPolicy(name=name, database_url="postgresql://postgres@127.0.0.1:5432/x",
                     rto_hours=1, rpo_hours=every_hours * 2, every_hours=every_hours,
                     retention_days=7, critical=False, start_offset_minutes=offset)


def test_the_offset_is_stable_inside_the_window_and_set_by_dr_toml() -> None:
    p = policy("billing", 6)
    assert start_offset(p) == start_offset(policy("billing", 6))  # same name, same minute
    # In the first half of the window: the other half is the margin before it counts missed.
    assert timedelta(0) <= start_offset(p) < timedelta(hours=3)
    # sha256-based, not Python's per-process hash().
    assert hashed_offset_minutes("billing", 180) == start_offset(p) // timedelta(minutes=1)
    assert start_offset(policy("billing", 6, offset=17)) == timedelta(minutes=17)


def test_a_thousand_apps_spread_over_the_window() -> None:
    offsets = [start_offset(policy(f"app_{i:05d}", 24)) // timedelta(minutes=1)
               for i in range(1000)]
    per_hour = Counter(m // 60 for m in offsets)
    assert set(per_hour) == set(range(12))          # every hour of the first half has some
    assert max(per_hour.values()) < 1000 / 12 * 2   # and none holds twice its share
    assert offsets.count(0) < 5                     # not everyone at minute 0


@pytest.mark.parametrize("every_hours", [1, 4, 6, 24, 48])
def test_each_window_is_due_once_at_its_end_plus_the_offset(every_hours: int) -> None:
    apps = [policy(f"app_{i}", every_hours) for i in range(10)]
    requested: list[tuple[str, str, datetime]] = []
    at = T0
    end = T0 + timedelta(days=5)
    while at < end:  # a launcher looking every few minutes, stretch after stretch
        nxt = at + timedelta(minutes=7)
        requested += [(d.app, d.partition, d.due_at) for d in due_backups(apps, at, nxt)]
        at = nxt
    keys = [(a, p) for a, p, _ in requested]
    assert len(keys) == len(set(keys))  # never twice
    for p in apps:
        mine = sorted((part, due) for a, part, due in requested if a == p.name)
        assert mine, p.name
        for part, due in mine:
            start = datetime.strptime(part, PARTITION_FMT).replace(tzinfo=UTC)
            # Due after its own window has closed (the run contract's partition at due - offset).
            assert backup_partition(p, due - start_offset(p)) == part
            assert due >= start + timedelta(hours=min(every_hours, 24))
        # Every window that closed (offset included) inside the sweep was requested.
        expected = set()
        moment = T0 + timedelta(minutes=1)
        while moment <= end:
            key = backup_partition(p, moment - start_offset(p))
            if key is not None and due_backup(p, T0, moment) is not None:
                expected.add(key)
            moment += timedelta(minutes=45)
        assert expected <= {part for part, _ in mine}


def test_after_an_outage_each_app_gets_its_newest_window_once() -> None:
    apps = [policy("hourly", 1, offset=5), policy("daily", 24, offset=90)]
    due = {d.app: d for d in due_backups(apps, T0, T0 + timedelta(hours=30))}
    assert due["hourly"].partition == "2026-11-11-04:00"  # window 04-05 due 05:05 <= 06:00
    assert due["daily"].partition == "2026-11-10-00:00"   # due 2026-11-11 01:30
    assert due["daily"].due_at == datetime(2026, 11, 11, 1, 30, tzinfo=UTC)


def test_where_a_launcher_resumes() -> None:
    now = T0 + timedelta(days=30)
    assert look_after(None, now) == now - FIRST_LOOK          # never looked: nothing past
    assert look_after("garbage", now) == now - FIRST_LOOK
    last = now - timedelta(minutes=7)
    assert look_after(last.isoformat(), now) == last          # an outage: from where it was
    assert look_after((now - timedelta(days=90)).isoformat(), now) == now - LONGEST_LOOK
    assert look_after((now + timedelta(hours=1)).isoformat(), now) == now  # clock went back
