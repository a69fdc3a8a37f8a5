"""A series of observations in time -> the ForecastLine of its trend: the value now, the
change per day, and the day the line reaches its limit within the horizon."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta

from dr_assets.core.forecasting.fit import theil_sen
from dr_assets.core.forecasting.line import ForecastLine

DAY_SECONDS = 86400.0


def forecast_line(metric: str, series: Sequence[tuple[datetime, float]], now: datetime,
                  horizon_days: float, limit: float | None = None) -> ForecastLine | None:
    """The trend of `series` (time, value) drawn from its first observation to `now` plus
    `horizon_days`; None when the series is too short to have one. Values are sizes and
    durations, never negative: a falling line is drawn down to zero, not below."""
    if not series:
        return None
    xs = [((t - now).total_seconds() / DAY_SECONDS, float(v)) for t, v in series]
    fit = theil_sen(xs)
    if fit is None:
        return None
    first = min(t for t, _ in series)
    now_value = max(0.0, fit.at(0.0))
    return ForecastLine(
        metric=metric, start=first,
        start_value=max(0.0, fit.at((first - now).total_seconds() / DAY_SECONDS)),
        end=now + timedelta(days=horizon_days), end_value=max(0.0, fit.at(horizon_days)),
        now_value=now_value, slope_per_day=fit.slope, points=fit.points, limit=limit,
        crosses_on=crossing(now_value, fit.slope, limit, now, horizon_days))


def since_first_held(series: Sequence[tuple[datetime, float]]
                     ) -> list[tuple[datetime, float]]:
    """Storage held over time from the first moment anything was held: the empty bins of an
    estate (or app) younger than the window are not history, and would pull the fit to
    zero."""
    for i, (_, value) in enumerate(series):
        if value > 0:
            return list(series[i:])
    return []


def crossing(now_value: float, slope_per_day: float, limit: float | None, now: datetime,
             horizon_days: float) -> date | None:
    """The day a line at `now_value` rising `slope_per_day` reaches `limit`: today when it
    already has, None when it never does within the horizon (or there is no limit)."""
    if limit is None:
        return None
    if now_value >= limit:
        return now.date()
    if slope_per_day <= 0:
        return None
    days = (limit - now_value) / slope_per_day
    return (now + timedelta(days=days)).date() if days <= horizon_days else None


def days_until(line: ForecastLine | None, today: date) -> int | None:
    """Whole days from `today` to the line's crossing (0: today or already), or None."""
    if line is None or line.crosses_on is None:
        return None
    return max(0, (line.crosses_on - today).days)


def stored_over_time(stored_now: float, bin_ends: Sequence[datetime],
                     added: Mapping[int, float], deleted: Mapping[int, float]
                     ) -> list[tuple[datetime, float]]:
    """Bytes held at the end of each time bin, counted back from what is held now: at the
    end of bin k, the backups stored since (`added`, by the bin they started in) were not
    there yet and those deleted since (`deleted`, by the bin of their deletion) still were.
    The last bin ends now. A backup whose row was purged after its deletion is missing
    from the days before its deletion; keep_deleted_days keeps that outside a short window."""
    out: list[tuple[datetime, float]] = []
    held = stored_now
    for k in range(len(bin_ends) - 1, -1, -1):
        out.append((bin_ends[k], max(0.0, held)))
        held += deleted.get(k, 0.0) - added.get(k, 0.0)
    out.reverse()
    return out
