"""/metrics: Prometheus text, computed from the catalog at scrape time."""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    disable_created_metrics,
    generate_latest,
)

from dr_assets.core.forecasting.forecast import days_until
from graphql_api.state import ApiState

# Each scrape builds a fresh registry: the *_created series would only be noise.
disable_created_metrics()  # type: ignore[no-untyped-call]


def metrics_text(state: ApiState) -> bytes:
    rt = state.runtime
    status = state.estate()
    latest = rt.catalog.latest_backups(list(rt.config.apps))
    drills = rt.catalog.latest_drills(list(rt.config.apps))
    reg = CollectorRegistry()
    last_ok = Gauge("dr_backup_last_success_timestamp_seconds",
                    "Start time of the newest valid backup", ["app"], registry=reg)
    age = Gauge("dr_backup_age_seconds", "Age of the newest verified backup", ["app"], registry=reg)
    score = Gauge("dr_health_score", "Health score 0-100", ["app"], registry=reg)
    stored = Gauge("dr_backup_stored_bytes", "Bytes held in valid backups", ["app"], registry=reg)
    failures = Gauge("dr_backup_failures_24h", "Failed backups in the last 24 h", ["app"],
                     registry=reg)
    drill = Gauge("dr_drill_restore_seconds", "Restore time of the last drill", ["app"],
                  registry=reg)
    rpo_met = Gauge("dr_rpo_met", "1 when the newest verified backup is within the RPO", ["app"],
                    registry=reg)
    rpo_seconds = Gauge("dr_rpo_seconds", "The RPO in effect: age of the newest WAL byte a "
                        "destination holds (protection wal) or of the newest verified backup "
                        "(dumps)", ["app", "protection"], registry=reg)
    total = Gauge("dr_global_health_score", "Estate health score 0-100", registry=reg)
    for h in status.health.apps:
        f = status.facts[h.app]
        if h.app in latest:
            last_ok.labels(h.app).set(latest[h.app].started_at.timestamp())
        if h.backup_age_hours is not None:
            age.labels(h.app).set(h.backup_age_hours * 3600)
        score.labels(h.app).set(h.score)
        stored.labels(h.app).set(f.stored_bytes)
        failures.labels(h.app).set(f.failures_24h)
        rpo_met.labels(h.app).set(1 if h.rpo_met else 0)
        if h.rpo_seconds is not None:
            rpo_seconds.labels(h.app, h.protection).set(h.rpo_seconds)
        seconds = drills[h.app].restore_seconds if h.app in drills else None
        if seconds is not None:
            drill.labels(h.app).set(seconds)
    total.set(status.health.score)
    _window_gauges(state, reg)
    _forecast_gauges(state, reg)
    cache = state.response_cache
    answers = Counter("dr_api_response_cache_answers", "Cacheable GraphQL answers since start, "
                      "served from the response cache (hit) or executed (miss)", ["outcome"],
                      registry=reg)
    answers.labels("hit").inc(cache.hits)
    answers.labels("miss").inc(cache.misses)
    Gauge("dr_api_catalog_change_feed_up", "1 while the API listens to catalog changes",
          registry=reg).set(1 if state.changes.connected else 0)
    Gauge("dr_api_worker_threads", "Threads for the API's calls to the catalog, the stores and "
          "Dagster ([api] worker_threads)", registry=reg).set(state.workers.threads)
    Gauge("dr_api_worker_threads_busy", "Of those, threads running a call now (this scrape's "
          "included): all of them busy means callers wait for a worker",
          registry=reg).set(state.workers.busy)
    return generate_latest(reg)


def _forecast_gauges(state: ApiState, reg: CollectorRegistry) -> None:
    """The trends (health/forecasts.py, cached a minute): today's value on each fitted line
    and the days until it reaches its limit (absent: no trend, or not within the window)."""
    forecast = state.forecast()
    today = forecast.now.date()
    restore = Gauge("dr_forecast_restore_seconds", "Drill restore time as its trend has it "
                    "today", ["app"], registry=reg)
    restore_slope = Gauge("dr_forecast_restore_slope_seconds_per_day", "Change of the drill "
                          "restore time per day", ["app"], registry=reg)
    rto_days = Gauge("dr_forecast_rto_crosses_days", "Days until the restore time is forecast "
                     "to reach the RTO (0: it has)", ["app"], registry=reg)
    dump = Gauge("dr_forecast_dump_bytes", "Stored bytes of one backup as the trend has it "
                 "today", ["app"], registry=reg)
    storage = Gauge("dr_forecast_storage_bytes", "Bytes held by valid backups as the trend has "
                    "it today", registry=reg)
    storage_slope = Gauge("dr_forecast_storage_slope_bytes_per_day", "Growth of the bytes "
                          "held by valid backups per day", registry=reg)
    quota_days = Gauge("dr_forecast_storage_quota_crosses_days", "Days until storage is "
                       "forecast to reach [storage] quota_gb (0: it has)", registry=reg)
    slot = Gauge("dr_forecast_slot_retained_bytes", "WAL a server's replication slot retains, "
                 "as the trend has it today", ["server"], registry=reg)
    slot_days = Gauge("dr_forecast_slot_fills_days", "Days until a replication slot is "
                      "forecast to reach its limit (0: it has)", ["server"], registry=reg)
    for name, app in forecast.apps.items():
        if app.restore is not None:
            restore.labels(name).set(app.restore.now_value)
            restore_slope.labels(name).set(app.restore.slope_per_day)
        if (days := days_until(app.restore, today)) is not None:
            rto_days.labels(name).set(days)
        if app.dump_size is not None:
            dump.labels(name).set(app.dump_size.now_value)
    if forecast.storage is not None:
        storage.set(forecast.storage.now_value)
        storage_slope.set(forecast.storage.slope_per_day)
    if (days := days_until(forecast.storage, today)) is not None:
        quota_days.set(days)
    for server, line in forecast.slots.items():
        if line is not None:
            slot.labels(server).set(line.now_value)
        if (days := days_until(line, today)) is not None:
            slot_days.labels(server).set(days)


def _window_gauges(state: ApiState, reg: CollectorRegistry) -> None:
    """Per protected server, its recoverable window from the stores (briefly cached)."""
    servers = state.runtime.config.servers
    if not servers:
        return
    earliest = Gauge("dr_recovery_window_earliest_timestamp_seconds", "The oldest moment a "
                     "protected server can be recovered to, from what the stores hold",
                     ["server"], registry=reg)
    latest = Gauge("dr_recovery_window_latest_timestamp_seconds", "The newest moment a "
                   "protected server can be recovered to, from what the stores hold",
                   ["server"], registry=reg)
    for name in servers:
        window = state.recovery_window(name)
        if window.earliest is not None:
            earliest.labels(name).set(window.earliest.timestamp())
        if window.latest is not None:
            latest.labels(name).set(window.latest.timestamp())
