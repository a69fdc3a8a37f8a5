"""What each trend picture draws, from the catalog's history, the policy's limits and the
forecast fitted to the series (None until one is wired): the one place the status page and
the compliance report get their charts' inputs from, so both draw the same picture."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, time

from dr_assets.core.catalog.history import BackupSize, DrillTime, StorageDay
from dr_assets.core.charts.trend import Limit, TrendChart, TrendPoint
from dr_assets.core.errors import ReportError
from dr_assets.core.forecasting.line import ForecastLine
from dr_assets.core.policy import DRConfig
from dr_assets.core.statuses import DrillStatus

RESTORE_TIME, BACKUP_SIZES, STORAGE = "restore-time", "backup-sizes", "storage"
CHARTS = (RESTORE_TIME, BACKUP_SIZES, STORAGE)
NO_QUOTA = "no storage quota configured ([storage] quota_gb), so no limit is drawn"


def _anomaly(b: BackupSize) -> str | None:
    """The rules the contents check found on this backup, and whether retention holds it."""
    rules = sorted({str(f.get("rule", "anomaly")) for f in b.anomalies or ()})
    words = ", ".join(rules)
    if b.held:
        words = f"{words}; held from retention" if words else "held from retention"
    return words or None


def trend_inputs(chart: str, config: DRConfig, start: datetime, end: datetime, *,
                 app: str | None = None, drills: Sequence[DrillTime] = (),
                 backups: Sequence[BackupSize] = (), storage: Sequence[StorageDay] = (),
                 forecast: ForecastLine | None = None) -> TrendChart:
    """The TrendChart of `chart` over start..end: an app's drill restore times against its
    RTO, an app's backup sizes with their anomalies marked, or the estate's storage by day
    against `[storage] quota_gb` (said in the note when there is none)."""
    if chart == STORAGE:
        quota = config.storage_quota_bytes
        return TrendChart(
            STORAGE, "estate", "Storage used by the estate's backups", "bytes", start, end,
            tuple(TrendPoint(min(datetime.combine(d.day, time(23, 59, 59), UTC), end),
                             float(d.stored_bytes), d.day.isoformat()) for d in storage),
            Limit(float(quota), "quota") if quota is not None else None, forecast,
            None if quota is not None else NO_QUOTA, "no storage history in this window")
    if chart not in CHARTS:
        raise ReportError(f"no trend chart named {chart!r}: one of {', '.join(CHARTS)}")
    if app is None or app not in config.apps:
        raise ReportError(f"the {chart} chart is drawn for an app in dr.toml, got {app!r}")
    if chart == RESTORE_TIME:
        rto = config.app(app).rto_hours * 3600.0
        return TrendChart(
            RESTORE_TIME, app, f"{app}: drill restore time", "seconds", start, end,
            tuple(TrendPoint(d.started_at, float(d.restore_seconds), f"drill, {d.status}",
                             None if d.status == DrillStatus.PASSED else "the drill failed")
                  for d in drills),
            Limit(rto, "RTO"), forecast, empty="no drill measured a restore in this window")
    return TrendChart(
        BACKUP_SIZES, app, f"{app}: backup size", "bytes", start, end,
        tuple(TrendPoint(b.started_at, float(b.stored_bytes), "backup", _anomaly(b))
              for b in backups),
        None, forecast, empty="no backup stored in this window")
