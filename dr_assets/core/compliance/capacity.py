"""The report's Capacity section: the forecast figures at the time the report is made (the
restore time of each app towards its RTO, storage towards the quota, each slot towards its
limit), as a table; plain data from the estate forecast, and its HTML."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from dr_assets.core.compliance.html_parts import duration, table
from dr_assets.core.forecasting.line import ForecastLine
from dr_assets.core.health.forecasts import EstateForecast

GIB = float(1 << 30)


@dataclass(frozen=True)
class CapacityRow:
    """One forecast figure: what it measures, today's value on its trend, the change per
    day, the limit and the day the trend reaches it (None: not within the window)."""

    subject: str  # an app, "estate" or server:NAME
    metric: str  # restore_seconds, stored_bytes, dump_bytes, slot_retained_bytes
    now_value: float
    slope_per_day: float
    limit: float | None
    crosses_on: date | None

    @classmethod
    def from_line(cls, subject: str, line: ForecastLine) -> CapacityRow:
        return cls(subject, line.metric, round(line.now_value, 1),
                   round(line.slope_per_day, 1), line.limit, line.crosses_on)


@dataclass(frozen=True)
class CapacityEvidence:
    forecast_on: date
    window_days: int
    alert_days_ahead: int
    rows: tuple[CapacityRow, ...]


def capacity_evidence(forecast: EstateForecast, window_days: int) -> CapacityEvidence:
    rows = [CapacityRow.from_line(name, line) for name, app in forecast.apps.items()
            for line in (app.restore, app.dump_size) if line is not None]
    if forecast.storage is not None:
        rows.append(CapacityRow.from_line("estate", forecast.storage))
    rows += [CapacityRow.from_line(f"server:{name}", line)
             for name, line in forecast.slots.items() if line is not None]
    return CapacityEvidence(forecast.now.date(), window_days, forecast.alert_days_ahead,
                            tuple(rows))


def _amount(metric: str, value: float | None) -> str:
    if value is None:
        return "—"
    if metric == "restore_seconds":
        return duration(value)
    return f"{value / GIB:.2f} GiB"


def capacity_section(capacity: CapacityEvidence | None) -> str:
    """The HTML section "Capacity": one row per fitted trend, those forecast to reach their
    limit first at the top."""
    if capacity is None:
        return ""
    ordered = sorted(capacity.rows, key=lambda r: (r.crosses_on is None,
                                                   r.crosses_on or date.max, r.subject))
    rows = [[r.subject, r.metric, _amount(r.metric, r.now_value),
             (f"{r.slope_per_day:+.0f} s" if r.metric == "restore_seconds"
              else f"{r.slope_per_day / GIB:+.3f} GiB"),
             _amount(r.metric, r.limit), r.crosses_on] for r in ordered]
    return "".join([
        '<section id="capacity"><h2>Capacity</h2>',
        f'<p class="totals">Trends fitted (Theil-Sen) over the {capacity.window_days} days '
        f"before {capacity.forecast_on}, when this report was made; an alert opens once a "
        f"limit is forecast within {capacity.alert_days_ahead} days.</p>",
        table(["Subject", "Figure", "Now", "Per day", "Limit", "Reaches it on"], rows,
              "Too little history for any trend."),
        "</section>",
    ])
