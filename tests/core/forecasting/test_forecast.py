"""The fit and the forecast line, pure: known slopes come back, outliers do not move the
trend, too few points give no line, flat and falling lines never cross, and the crossing
day is where the line reaches its limit within the horizon."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from dr_assets.core.forecasting.fit import MAX_BINS, binned, theil_sen
from dr_assets.core.forecasting.forecast import (
    crossing,
    days_until,
    forecast_line,
    since_first_held,
    stored_over_time,
)
from dr_assets.core.forecasting.line import ForecastLine

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def days_ago(n: float) -> datetime:
    return NOW - timedelta(days=n)


def test_a_known_slope_and_intercept_come_back() -> None:
    fit = theil_sen([(x, 5.0 + 2.0 * x) for x in range(10)])
    assert fit is not None and fit.slope == pytest.approx(2.0) and fit.at(0) == pytest.approx(5.0)


def test_outliers_do_not_move_the_trend() -> None:
    points = [(float(x), 100.0 + 3.0 * x) for x in range(20)]
    points[4] = (4.0, 10_000.0)
    points[13] = (13.0, -5_000.0)
    fit = theil_sen(points)
    assert fit is not None and fit.slope == pytest.approx(3.0)


def test_too_few_points_give_no_fit() -> None:
    assert theil_sen([]) is None
    assert theil_sen([(1.0, 2.0), (2.0, 3.0)]) is None
    assert theil_sen([(1.0, 2.0), (1.0, 3.0), (1.0, 9.0)]) is None  # one moment only
    assert forecast_line("restore_seconds", [(days_ago(1), 10.0)], NOW, 90, 100.0) is None


def test_a_long_series_is_fitted_over_at_most_max_bins() -> None:
    points = [(x / 10, 7.0 * x / 10) for x in range(5000)]
    assert len(binned(points)) == MAX_BINS
    fit = theil_sen(points)
    assert fit is not None and fit.points == MAX_BINS and fit.slope == pytest.approx(7.0)


def test_a_rising_restore_time_crosses_the_rto_on_the_day_the_line_reaches_it() -> None:
    # 100 s a day, 9,000 s now: the 4 h RTO (14,400 s) in 54 days.
    series = [(days_ago(d), 9_000.0 - 100.0 * d) for d in range(0, 90, 3)]
    line = forecast_line("restore_seconds", series, NOW, 90, 14_400.0)
    assert line is not None
    assert line.slope_per_day == pytest.approx(100.0) and line.now_value == pytest.approx(9000)
    assert line.crosses_on == date(2027, 1, 24) and days_until(line, NOW.date()) == 54
    assert line.start == days_ago(87) and line.end == NOW + timedelta(days=90)
    assert line.end_value == pytest.approx(18_000.0) and line.limit == 14_400.0
    assert forecast_line("restore_seconds", series, NOW, 30, 14_400.0).crosses_on is None  # type: ignore[union-attr]


def test_flat_and_falling_lines_never_cross_and_one_already_over_crosses_today() -> None:
    flat = forecast_line("dump_bytes", [(days_ago(d), 500.0) for d in range(30)], NOW, 90, 600)
    assert flat is not None and flat.slope_per_day == 0 and flat.crosses_on is None
    assert crossing(50.0, -1.0, 100.0, NOW, 90) is None
    assert crossing(150.0, -1.0, 100.0, NOW, 90) == NOW.date()
    assert crossing(50.0, 1.0, None, NOW, 90) is None
    falling = forecast_line("x", [(days_ago(d), 10.0 * d) for d in range(30)], NOW, 90)
    assert falling is not None and falling.end_value == 0.0  # drawn down to zero, not below


def test_noisy_growth_is_found_through_the_noise() -> None:
    noise = [37, -52, 11, 80, -23, -64, 5, 49, -8, 70, -41, 19, -77, 33, 2, -15]
    series = [(days_ago(d), 1000.0 + 20.0 * (60 - d) + noise[d % 16] * 3) for d in range(60)]
    line = forecast_line("stored_bytes", series, NOW, 90, 3000.0)
    assert line is not None and 18 < line.slope_per_day < 22
    assert line.crosses_on is not None and 40 <= (line.crosses_on - NOW.date()).days <= 60


def test_storage_held_is_counted_back_from_now() -> None:
    ends = [days_ago(2), days_ago(1), NOW]
    # now 300 held; 100 stored in the last bin, 50 deleted in the middle one
    held = stored_over_time(300.0, ends, added={2: 100.0}, deleted={1: 50.0})
    assert held == [(days_ago(2), 250.0), (days_ago(1), 200.0), (NOW, 300.0)]


def test_a_line_drawn_from_a_later_moment_keeps_its_slope() -> None:
    start = datetime(2026, 9, 1, tzinfo=UTC)
    line = ForecastLine("restore_seconds", start, 100.0, start + timedelta(days=100), 600.0,
                        400.0, 5.0, 10, 1000.0, None)
    later = line.from_moment(start + timedelta(days=30))
    assert later.start == start + timedelta(days=30) and later.start_value == 250.0
    assert (later.end, later.end_value, later.slope_per_day) == (line.end, 600.0, 5.0)
    assert line.from_moment(start - timedelta(days=1)) is line


def test_storage_history_starts_where_something_was_first_held() -> None:
    t = datetime(2026, 12, 1, tzinfo=UTC)
    series = [(t + timedelta(days=d), v) for d, v in enumerate([0.0, 0.0, 5.0, 0.0, 7.0])]
    assert since_first_held(series) == series[2:]
    assert since_first_held(series[:2]) == []
