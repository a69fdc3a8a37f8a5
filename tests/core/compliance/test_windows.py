"""Backup windows match the Dagster partitions of every cadence; periods are checked."""

from __future__ import annotations

from datetime import UTC, date, datetime

import dagster as dg
import pytest

from dr_assets.core.compliance.period import ReportPeriod
from dr_assets.core.errors import ReportError
from dr_assets.core.runs import PARTITION_FMT, cadence_cron, scheduled_windows


@pytest.mark.parametrize("every_hours", [1, 4, 6, 12, 24, 48, 72])
def test_windows_are_the_dagster_partitions_of_the_cadence(every_hours: int) -> None:
    partitions = dg.TimeWindowPartitionsDefinition(
        start="2026-09-01-00:00", cron_schedule=cadence_cron(every_hours), fmt=PARTITION_FMT,
        timezone="UTC")
    start, end = datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)
    keys = partitions.get_partition_keys(current_time=datetime(2027, 1, 1, tzinfo=UTC))
    windows = [partitions.time_window_for_partition_key(k) for k in keys]
    expected = [(w.start, w.end) for w in windows if start <= w.start < end]
    assert scheduled_windows(every_hours, start, end) == expected
    assert expected  # not vacuous


def test_a_month_of_six_hourly_windows() -> None:
    p = ReportPeriod.parse("2026-10-01", "2026-10-31")
    windows = scheduled_windows(6, p.start, p.end)
    assert len(windows) == 124
    assert windows[0][0] == datetime(2026, 10, 1, tzinfo=UTC)
    assert windows[-1] == (datetime(2026, 10, 31, 18, tzinfo=UTC), p.end)


def test_periods_are_whole_days_and_checked() -> None:
    p = ReportPeriod.parse("2026-10-01", "2026-10-31")
    assert (p.start, p.end) == (datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC))
    assert p.is_month and p.label == "2026-10"
    assert ReportPeriod.month(date(2026, 2, 17)) == ReportPeriod.parse("2026-02-01", "2026-02-28")
    assert ReportPeriod.parse("2026-10-05", "2026-10-05").label == "2026-10-05_2026-10-05"
    with pytest.raises(ReportError, match="is not a date: write it as YYYY-MM-DD"):
        ReportPeriod.parse("2026-13-01", "2026-10-31")
    with pytest.raises(ReportError, match="--from must be on or before --to"):
        ReportPeriod.parse("2026-10-31", "2026-10-01")
    with pytest.raises(ReportError, match="at most 366 days"):
        ReportPeriod.parse("2025-01-01", "2026-10-31")
