"""The trend charts over a window of UTC days read from the catalog (one query per chart)
and drawn: what the status page's chart routes and the compliance report's Trends call."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta

from dr_assets.core.catalog import Catalog
from dr_assets.core.catalog.history import BackupSize, DrillTime
from dr_assets.core.charts.svg import render_trend_svg
from dr_assets.core.charts.trend import TrendChart
from dr_assets.core.errors import ReportError
from dr_assets.core.forecasting.line import ForecastLine
from dr_assets.core.health.forecasts import EstateForecast
from dr_assets.core.health.timeline import MAX_TIMELINE_DAYS
from dr_assets.core.health.trend_charts import BACKUP_SIZES, RESTORE_TIME, STORAGE, trend_inputs
from dr_assets.core.policy import DRConfig

TREND_DAYS = 90


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


def _from(line: ForecastLine | None, start: datetime) -> ForecastLine | None:
    return line.from_moment(start) if line is not None else None


def app_chart(chart: str, config: DRConfig, catalog: Catalog, app: str, start: datetime,
              end: datetime, forecast: EstateForecast | None = None) -> TrendChart:
    """An app's restore-time or backup-sizes chart from start to end, with the forecast's
    line for it when one is given and has one."""
    lines = forecast.apps.get(app) if forecast is not None else None
    if chart == RESTORE_TIME:
        return trend_inputs(RESTORE_TIME, config, start, end, app=app,
                            drills=catalog.drill_times([app], start, end),
                            forecast=_from(lines.restore if lines else None, start))
    return trend_inputs(BACKUP_SIZES, config, start, end, app=app,
                        backups=catalog.backup_sizes([app], start, end),
                        forecast=_from(lines.dump_size if lines else None, start))


def estate_charts(config: DRConfig, catalog: Catalog, first: date, last: date,
                  end: datetime, forecast: EstateForecast | None = None
                  ) -> tuple[TrendChart, ...]:
    """Every app's restore-time and backup-sizes charts, then the storage chart, from the
    midnight of `first` to `end` (with FORECAST's lines): three queries whatever the number
    of apps."""
    start = _midnight(first)
    drills: dict[str, list[DrillTime]] = defaultdict(list)
    backups: dict[str, list[BackupSize]] = defaultdict(list)
    for d in catalog.drill_times(list(config.apps), start, end):
        drills[d.app].append(d)
    for b in catalog.backup_sizes(list(config.apps), start, end):
        backups[b.app].append(b)
    out = []
    for app in config.apps:
        lines = forecast.apps.get(app) if forecast is not None else None
        out.append(trend_inputs(RESTORE_TIME, config, start, end, app=app, drills=drills[app],
                                forecast=_from(lines.restore if lines else None, start)))
        out.append(trend_inputs(BACKUP_SIZES, config, start, end, app=app,
                                backups=backups[app],
                                forecast=_from(lines.dump_size if lines else None, start)))
    return (*out, storage_chart(config, catalog, first, last, end, forecast))


def storage_chart(config: DRConfig, catalog: Catalog, first: date, last: date,
                  end: datetime, forecast: EstateForecast | None = None) -> TrendChart:
    """The estate's storage at the end of each day from first to last, with FORECAST's
    storage line."""
    days = catalog.storage_by_day(list(config.apps), first, last)
    return trend_inputs(STORAGE, config, _midnight(first), end, storage=days,
                        forecast=_from(forecast.storage if forecast else None, _midnight(first)))


def _window(now: datetime, days: int) -> tuple[date, date]:
    if not 1 <= days <= MAX_TIMELINE_DAYS:
        raise ReportError(f"days must be between 1 and {MAX_TIMELINE_DAYS}, got {days}")
    today = now.astimezone(UTC).date()
    return today - timedelta(days=days - 1), today


def app_trend(chart: str, config: DRConfig, catalog: Catalog, app: str, now: datetime,
              days: int = TREND_DAYS, forecast: EstateForecast | None = None) -> str:
    """The SVG of an app's chart over the last `days` days, today included."""
    first, _ = _window(now, days)
    return render_trend_svg(app_chart(chart, config, catalog, app, _midnight(first), now,
                                      forecast))


def storage_trend(config: DRConfig, catalog: Catalog, now: datetime,
                  days: int = TREND_DAYS, forecast: EstateForecast | None = None) -> str:
    """The SVG of the estate's storage over the last `days` days, today included."""
    first, today = _window(now, days)
    return render_trend_svg(storage_chart(config, catalog, first, today, now, forecast))
