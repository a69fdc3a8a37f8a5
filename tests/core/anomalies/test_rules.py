"""The anomaly rules, pure: each rule at its thresholds and just past them, no history, a
first backup, a history too short for the median, a whole series scanned."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from dr_assets.core.anomalies.rules import (
    CRITICAL,
    WARNING,
    BackupFacts,
    Finding,
    Rule,
    find_anomalies,
    fresh,
    scan,
)
from dr_assets.core.policy import AnomalyThresholds

T0 = datetime(2026, 11, 1, tzinfo=UTC)
DEFAULTS = AnomalyThresholds()


def backup(i: int, rows: dict[str, int] | None = None, raw: int = 10_000_000,
           stored: int = 2_500_000) -> BackupFacts:
    return BackupFacts(f"shop-2026110{i % 10}T000000Z-{i:04x}", T0 + timedelta(hours=6 * i),
                       raw, stored, rows if rows is not None else {"public.orders": 20_000,
                                                                   "public.customers": 3_000})


def history(n: int, **kw: object) -> list[BackupFacts]:
    """n backups before backup(n), newest first."""
    return [backup(i, **kw) for i in range(n - 1, -1, -1)]  # type: ignore[arg-type]


def rules_of(found: list[Finding]) -> list[tuple[str, str | None]]:
    return [(f.rule, f.table) for f in found]


def test_no_history_and_a_first_backup_have_no_finding() -> None:
    empty = backup(1, rows={}, raw=1, stored=1)
    assert find_anomalies(empty, [], DEFAULTS) == []
    assert scan([backup(0)], DEFAULTS) == {}


def test_rows_fell_80_percent_names_the_table_both_backups_and_the_numbers() -> None:
    past = history(3)
    new = backup(3, rows={"public.orders": 4_000, "public.customers": 3_000})
    [f] = find_anomalies(new, past, DEFAULTS)
    assert (f.rule, f.table, f.severity) == (Rule.ROWS_DROPPED, "public.orders", WARNING)
    assert f.previous_backup_id == past[0].backup_id and f.new_backup_id == new.backup_id
    assert f.numbers == {"previous_rows": 20_000, "rows": 4_000, "dropped_rows": 16_000,
                         "dropped_fraction": 0.8}
    assert "public.orders fell from 20,000 to 4,000 rows (-16,000, -80%)" in f.message
    assert past[0].backup_id in f.message


@pytest.mark.parametrize(("before", "after", "fires"), [
    (20_000, 10_000, False),   # exactly 50 %: not more than half
    (20_000, 9_999, True),     # just over half
    (2_000, 1_000, False),     # exactly half, and exactly 1,000 rows
    (2_002, 1_000, True),      # 1,002 rows (50.05 %)
    (1_900, 0, True),          # all of 1,900
    (1_000, 0, False),         # all, but only 1,000 rows: not more than 1,000
    (1_001, 0, True),
    (20_000, 25_000, False),   # grew
])
def test_rows_dropped_edges(before: int, after: int, fires: bool) -> None:
    found = find_anomalies(backup(1, rows={"public.t": after}),
                           [backup(0, rows={"public.t": before})], DEFAULTS)
    assert (rules_of(found) == [(Rule.ROWS_DROPPED, "public.t")]) is fires


def test_row_thresholds_come_from_the_app() -> None:
    strict = replace(DEFAULTS, rows_drop_fraction=0.1, rows_drop_min=10)
    past = [backup(0, rows={"public.t": 100})]
    assert find_anomalies(backup(1, rows={"public.t": 85}), past, DEFAULTS) == []
    assert rules_of(find_anomalies(backup(1, rows={"public.t": 85}), past, strict)) == [
        (Rule.ROWS_DROPPED, "public.t")]
    assert find_anomalies(backup(1, rows={}), past, replace(DEFAULTS, enabled=False)) == []


def test_a_vanished_table_is_critical_and_an_empty_one_is_not_a_loss() -> None:
    past = [backup(0, rows={"public.orders": 20_000, "public.tmp": 0, "public.few": 3})]
    new = backup(1, rows={"public.customers": 5})
    found = find_anomalies(new, past, DEFAULTS)
    assert rules_of(found) == [(Rule.TABLE_VANISHED, "public.few"),
                               (Rule.TABLE_VANISHED, "public.orders")]
    assert {f.severity for f in found} == {CRITICAL}
    assert "table public.orders (20,000 rows) is gone" in found[1].message
    every = find_anomalies(new, past, replace(DEFAULTS, vanished_min_rows=0))
    assert (Rule.TABLE_VANISHED, "public.tmp") in rules_of(every)
    # a new table is no anomaly
    assert find_anomalies(backup(1, rows={"public.orders": 20_000, "public.tmp": 0,
                                          "public.few": 3, "public.new": 9}), past, DEFAULTS) == []


def test_a_backup_much_smaller_than_the_median() -> None:
    past = [backup(2, raw=10_000_000), backup(1, raw=30_000_000), backup(0, raw=9_000_000)]
    # median 10,000,000: half of it is the limit, not below it
    assert find_anomalies(backup(3, raw=5_000_000, stored=1_250_000), past, DEFAULTS) == []
    [f] = find_anomalies(backup(3, raw=4_999_999, stored=1_250_000), past, DEFAULTS)
    assert (f.rule, f.table, f.severity) == (Rule.SIZE_DROPPED, None, WARNING)
    assert f.numbers["median_raw_bytes"] == 10_000_000 and f.numbers["backups"] == 3
    assert f.previous_backup_id == past[0].backup_id
    assert "50% of the median 10,000,000 of the last 3 backups" in f.message


def test_size_and_ratio_rules_wait_for_min_history() -> None:
    small = backup(2, raw=1_000_000, stored=900_000)  # a tenth the size, ratio 0.9
    two = history(2)
    assert find_anomalies(small, two, DEFAULTS) == []
    assert {f.rule for f in find_anomalies(small, two, replace(DEFAULTS, min_history=2))} == {
        Rule.SIZE_DROPPED, Rule.RATIO_JUMPED}
    # the median reads only the last `history` backups
    past = [backup(3, raw=1_000_000, stored=250_000)] * 3 + history(3)
    assert find_anomalies(backup(6, raw=900_000, stored=225_000), past,
                          replace(DEFAULTS, history=3)) == []
    assert rules_of(find_anomalies(backup(6, raw=900_000, stored=225_000), past,
                                   replace(DEFAULTS, history=6))) == [(Rule.SIZE_DROPPED, None)]


@pytest.mark.parametrize(("stored", "fires"), [
    (4_400_000, False),  # ratio 0.44: below ratio_min 0.45
    (4_500_000, True),   # 0.45, 0.2 above the median 0.25
    (6_500_000, True),   # 0.65: base64 of random bytes
    (10_100_000, True),  # 1.01: random bytes, with AES-GCM's tags
])
def test_the_compression_ratio_jump(stored: int, fires: bool) -> None:
    past = history(5)  # ratio 0.25 each
    found = find_anomalies(backup(5, stored=stored), past, DEFAULTS)
    assert (rules_of(found) == [(Rule.RATIO_JUMPED, None)]) is fires
    if fires:
        assert found[0].severity == CRITICAL and found[0].numbers["median_ratio"] == 0.25


def test_a_ratio_that_was_always_high_is_no_jump() -> None:
    """Already-compressed data (images, archives) stays near 1: no rise, no finding."""
    past = history(5, stored=9_000_000)  # ratio 0.9
    assert find_anomalies(backup(5, stored=9_900_000), past, DEFAULTS) == []
    # a rise smaller than ratio_rise from a low median is no jump either
    assert find_anomalies(backup(5, stored=4_400_000), history(5, stored=2_600_000),
                          replace(DEFAULTS, ratio_min=0.3)) == []


def test_findings_round_trip_and_scan_marks_each_backup_against_those_before() -> None:
    fallen = {"public.orders": 100, "public.customers": 3_000}
    series = [*history(4)[::-1], backup(4, rows=fallen), backup(5, rows=fallen)]
    marked = scan(list(reversed(series)), DEFAULTS)  # any order
    assert list(marked) == [series[4].backup_id]  # the one after is normal next to it
    [f] = marked[series[4].backup_id]
    assert f.previous_backup_id == series[3].backup_id
    assert Finding.from_dict(f.to_dict()) == f


def test_a_finding_the_previous_backup_had_too_is_not_fresh() -> None:
    past = history(5)
    high = backup(5, stored=6_500_000)
    [jump] = find_anomalies(high, past, DEFAULTS)
    [again] = find_anomalies(backup(6, stored=6_500_000), [high, *past[:4]], DEFAULTS)
    assert fresh([again], [jump]) == []
    gone = find_anomalies(backup(6, rows={}, stored=6_500_000), [high, *past[:4]], DEFAULTS)
    assert [f.rule for f in fresh(gone, [jump])] == [Rule.TABLE_VANISHED] * 2
