"""Forecast types: an app's trends (restore time towards its RTO, dump size, storage) and
the estate's storage and slots, from one estate forecast per ApiState.FORECAST_TTL_SECONDS."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime

import strawberry

from dr_assets.core.forecasting.line import ForecastLine
from dr_assets.core.health.forecasts import AppForecast, EstateForecast


@strawberry.type(description="A straight line fitted (Theil-Sen) to a series over "
                             "`[forecasts] window_days`, drawn as far ahead.")
class ForecastLineType:
    metric: str
    start: datetime
    start_value: float
    end: datetime
    end_value: float
    now_value: float
    slope_per_day: float
    points: int
    limit: float | None
    crosses_on: date | None

    @classmethod
    def from_line(cls, line: ForecastLine | None) -> ForecastLineType | None:
        return None if line is None else cls(**asdict(line))  # the same fields, by name


@strawberry.type(description="An app's trends; a figure is null while its history is too "
                             "short for a trend (fewer than 3 time bins).")
class AppForecastType:
    restore_seconds: float | None = strawberry.field(
        description="The drills' restore time, as the trend has it today.")
    restore_slope_seconds_per_day: float | None
    rto_seconds: float
    rto_crosses_on: date | None = strawberry.field(
        description="The day the restore time is forecast to reach the RTO (today when it "
                    "has; null when not within window_days).")
    dump_bytes: float | None = strawberry.field(description="Stored bytes of one backup.")
    dump_slope_bytes_per_day: float | None
    storage_bytes: float | None = strawberry.field(
        description="Bytes the app's valid backups hold, as the trend has it today.")
    storage_slope_bytes_per_day: float | None
    restore: ForecastLineType | None
    dump_size: ForecastLineType | None
    storage: ForecastLineType | None

    @classmethod
    def from_forecast(cls, f: AppForecast, rto_seconds: float) -> AppForecastType:
        r, d, s = f.restore, f.dump_size, f.storage
        return cls(
            restore_seconds=r.now_value if r else None,
            restore_slope_seconds_per_day=r.slope_per_day if r else None,
            rto_seconds=rto_seconds, rto_crosses_on=r.crosses_on if r else None,
            dump_bytes=d.now_value if d else None,
            dump_slope_bytes_per_day=d.slope_per_day if d else None,
            storage_bytes=s.now_value if s else None,
            storage_slope_bytes_per_day=s.slope_per_day if s else None,
            restore=ForecastLineType.from_line(r), dump_size=ForecastLineType.from_line(d),
            storage=ForecastLineType.from_line(s))


@strawberry.type(description="A protected server's replication slot: its retained WAL "
                             "towards max_slot_wal_keep_size (or slot_alert_gb).")
class SlotForecastType:
    server: str
    retained_bytes: float | None
    slope_bytes_per_day: float | None
    limit_bytes: float | None
    fills_on: date | None
    line: ForecastLineType | None


@strawberry.type(description="The estate's storage towards `[storage] quota_gb`, and each "
                             "protected server's slot.")
class StorageForecastType:
    storage_bytes: float | None
    slope_bytes_per_day: float | None
    quota_bytes: float | None
    quota_crosses_on: date | None
    alert_days_ahead: int
    line: ForecastLineType | None
    slots: list[SlotForecastType]

    @classmethod
    def from_forecast(cls, f: EstateForecast, quota: int | None) -> StorageForecastType:
        s = f.storage
        return cls(
            storage_bytes=s.now_value if s else None,
            slope_bytes_per_day=s.slope_per_day if s else None,
            quota_bytes=float(quota) if quota else None,
            quota_crosses_on=s.crosses_on if s else None, alert_days_ahead=f.alert_days_ahead,
            line=ForecastLineType.from_line(s),
            slots=[SlotForecastType(
                server=name, retained_bytes=line.now_value if line else None,
                slope_bytes_per_day=line.slope_per_day if line else None,
                limit_bytes=line.limit if line else None,
                fills_on=line.crosses_on if line else None,
                line=ForecastLineType.from_line(line)) for name, line in f.slots.items()])
