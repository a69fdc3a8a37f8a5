"""The estate's forecasts from the catalog's history (one binned read for every app), and
the alert conditions they raise: a restore forecast to exceed the RTO, storage to exceed
`[storage] quota_gb`, a replication slot to reach its limit, within `[forecasts]
alert_days_ahead`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from dr_assets.core.catalog import Catalog
from dr_assets.core.forecasting.forecast import (
    days_until,
    forecast_line,
    since_first_held,
    stored_over_time,
)
from dr_assets.core.forecasting.line import ForecastLine
from dr_assets.core.policy import DRConfig

GIB = 1 << 30
RTO_FORECAST = "rto_forecast"
STORAGE_FORECAST = "storage_forecast"
SLOT_FORECAST = "slot_forecast"
FORECAST_KINDS = (RTO_FORECAST, STORAGE_FORECAST, SLOT_FORECAST)


@dataclass(frozen=True)
class AppForecast:
    app: str
    restore: ForecastLine | None  # restore seconds of passed drills; limit: the RTO
    dump_size: ForecastLine | None  # stored bytes of each backup
    storage: ForecastLine | None  # bytes the app's valid backups hold


@dataclass(frozen=True)
class EstateForecast:
    now: datetime
    alert_days_ahead: int
    apps: Mapping[str, AppForecast]
    storage: ForecastLine | None  # every app's; limit: [storage] quota_gb
    slots: Mapping[str, ForecastLine | None]  # per server: retained WAL; limit: see slot_limit

    def within_alert(self, line: ForecastLine | None) -> int | None:
        """Days to the line's crossing when that is within alert_days_ahead, else None."""
        days = days_until(line, self.now.date())
        return days if days is not None and days <= self.alert_days_ahead else None


def slot_limit(keep: int | None, slot_alert_gb: float) -> float:
    """What a slot must stay under: max_slot_wal_keep_size when the server sets one (past
    it the server drops WAL the streamer needs), else the configured slot_alert_gb."""
    return float(keep) if keep is not None else slot_alert_gb * GIB


def estate_forecast(config: DRConfig, catalog: Catalog, now: datetime) -> EstateForecast:
    settings = config.forecasts
    horizon = float(settings.window_days)
    h = catalog.forecast_history(list(config.apps), list(config.servers), now,
                                 timedelta(days=settings.window_days))
    ends = h.bin_ends()
    apps: dict[str, AppForecast] = {}
    totals: dict[datetime, float] = {}
    for name, policy in config.apps.items():
        held = stored_over_time(h.stored_now.get(name, 0.0), ends, h.added.get(name, {}),
                                h.deleted.get(name, {}))
        for at, value in held:
            totals[at] = totals.get(at, 0.0) + value
        apps[name] = AppForecast(
            app=name,
            restore=forecast_line("restore_seconds", h.restore.get(name, []), now, horizon,
                                  policy.rto_hours * 3600),
            dump_size=forecast_line("dump_bytes", h.dump.get(name, []), now, horizon),
            storage=forecast_line("stored_bytes", since_first_held(held), now, horizon)
            if name in h.stored_now or name in h.added else None)
    quota = float(config.storage_quota_bytes) if config.storage_quota_bytes else None
    storage = forecast_line("stored_bytes", since_first_held(sorted(totals.items())), now,
                            horizon, quota)
    slots = {name: forecast_line("slot_retained_bytes", h.slots.get(name, []), now, horizon,
                                 slot_limit(h.slot_keep.get(name), server.slot_alert_gb))
             for name, server in config.servers.items()}
    return EstateForecast(now=now, alert_days_ahead=settings.alert_days_ahead, apps=apps,
                          storage=storage, slots=slots)
