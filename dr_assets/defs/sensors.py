"""Alert evaluation every minute (with the dead backups, restores and drills settled first),
and alerts for failed backup, base backup, drill or restore runs."""


from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from datetime import UTC, datetime

import dagster as dg

from dr_assets.core.copies.dead_runs import settle_dead_runs
from dr_assets.core.delivery.dispatch import dispatch_due
from dr_assets.core.health.alerting import (
    evaluate,
    forecast_conditions,
    open_run_failure,
    reconcile,
)
from dr_assets.core.health.estate import estate_status
from dr_assets.core.health.forecasts import estate_forecast
from dr_assets.core.runs import (
    KIND_BACKUP,
    KIND_BASE_BACKUP,
    KIND_DRILL,
    KIND_REPORT,
    KIND_RESTORE,
    TAG_APP,
    TAG_KIND,
)
from dr_assets.core.runtime import DRRuntime
from dr_assets.core.wal.slot_watch import watch_servers
from dr_assets.defs.keys import backup_key, drill_key
from dr_assets.defs.pools import sync_pool_limits
from dr_assets.defs.resources import DRResource


def app_of_run(tags: Mapping[str, str], selection: AbstractSet[dg.AssetKey] | None) -> str:
    """The app a run is about: its tag, else (a run launched by hand from the Dagster UI in
    a job shared by many apps) the one app its selected assets belong to; "*" when none or
    several."""
    if TAG_APP in tags:
        return tags[TAG_APP]
    apps = {k.path[0] for k in selection or () if k in (backup_key(k.path[0]), drill_key(k.path[0]))}
    return apps.pop() if len(apps) == 1 else "*"


# A report not stored is evidence lost; a failed base backup's alert names server:NAME.
WATCHED_KINDS = (KIND_BACKUP, KIND_BASE_BACKUP, KIND_DRILL, KIND_RESTORE, KIND_REPORT)


@dg.sensor(minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Marks dead backups, restores and drills failed, evaluates the alert "
                        "conditions (and every protected server's slot), opens, delivers and "
                        "resolves alerts.")
def alert_sensor(context: dg.SensorEvaluationContext, dr: DRResource) -> dg.SkipReason:
    rt = dr.runtime()
    # One catalog statement when nothing is dead; the stores are opened only when it is.
    settled = settle_dead_runs(rt.catalog, lambda: rt.stores, config=rt.config,
                               instances_dir=rt.config.drills.instances_dir)
    if settled.failed:
        context.log.warning(settled.summary())
    for pool, limit in sync_pool_limits(context.instance, rt.config).items():
        context.log.info(f"pool {pool}: at most {limit} dump(s) at once")
    for problem in watch_servers(rt.config, rt.catalog):
        context.log.warning(problem)
    status = estate_status(rt.config, rt.catalog)
    health = {a.app: a for a in status.health.apps}
    conditions = evaluate(rt.config.apps, status.facts, health, status.now,
                          rt.config.storage_quota_bytes)
    conditions += forecast_conditions(rt.config.apps,
                                      estate_forecast(rt.config, rt.catalog, status.now))
    changes = reconcile(rt.catalog, conditions)
    deliver_due(context, rt)
    return dg.SkipReason(
        f"health {status.health.score:.0f} ({status.health.status}); "
        f"{len(changes.opened)} alert(s) opened, {len(changes.resolved)} resolved, "
        f"{len(conditions)} condition(s) holding")


@dg.run_failure_sensor(default_status=dg.DefaultSensorStatus.RUNNING,
                       description="Opens an alert when a backup, drill or restore run fails.")
def run_failure_alert_sensor(context: dg.RunFailureSensorContext, dr: DRResource) -> None:
    run = context.dagster_run
    kind = run.tags.get(TAG_KIND, "")
    if kind not in WATCHED_KINDS:
        return
    rt = dr.runtime()
    app = app_of_run(run.tags, run.asset_selection)
    error = context.failure_event.message or "run failed"
    open_run_failure(rt.catalog, app, run.job_name, run.run_id, error[:500])
    deliver_due(context, rt)


def deliver_due(context: dg.SensorEvaluationContext | dg.RunFailureSensorContext,
                rt: DRRuntime) -> None:
    """Send the outbox's due alerts; a failure is logged, never raised: the rows stay and
    are retried on the next tick."""
    try:
        done = dispatch_due(rt.config, rt.catalog, datetime.now(UTC))
    except Exception as exc:
        context.log.warning(f"alert delivery failed this tick: {type(exc).__name__}: {exc}")
        return
    for err in done.failed:
        context.log.warning(f"alert delivery failed: {err}")
