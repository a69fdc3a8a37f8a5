"""The report's Capacity section from an estate forecast (pure): a row per trend, those that
reach their limit first at the top, amounts in the figure's unit."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from dr_assets.core.compliance.capacity import capacity_evidence, capacity_section
from dr_assets.core.forecasting.forecast import forecast_line
from dr_assets.core.health.forecasts import AppForecast, EstateForecast

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def test_the_capacity_section_lists_every_trend_soonest_first() -> None:
    def series(start: float, per_day: float) -> list[tuple[datetime, float]]:
        return [(NOW - timedelta(days=d), start - per_day * d) for d in range(0, 60, 5)]

    slowing = forecast_line("restore_seconds", series(3000, 50), NOW, 90, 3600)
    steady = forecast_line("restore_seconds", series(600, 0), NOW, 90, 7200)
    storage = forecast_line("stored_bytes", series(5 * 2**30, 2**28), NOW, 90, 10 * 2**30)
    forecast = EstateForecast(
        now=NOW, alert_days_ahead=30, storage=storage, slots={"main": None},
        apps={"shop": AppForecast("shop", slowing, None, None),
              "ledger": AppForecast("ledger", steady, None, None)})
    capacity = capacity_evidence(forecast, 90)
    assert [(r.subject, r.crosses_on) for r in capacity.rows] == [
        ("shop", date(2026, 12, 13)), ("ledger", None), ("estate", date(2026, 12, 21))]
    html = capacity_section(capacity)
    assert '<section id="capacity"><h2>Capacity</h2>' in html
    assert html.index("shop") < html.index("estate") < html.index("ledger")
    assert "5.00 GiB" in html and "10.00 GiB" in html and "50.0 min" in html
    assert capacity_section(None) == ""
