"""Alert evaluation every minute, and alerts for failed backup, base backup, drill or restore
runs."""


import dagster as dg

from dr_assets.core.health.alerting import evaluate, open_run_failure, reconcile
from dr_assets.core.health.estate import estate_status
from dr_assets.core.runs import (
    KIND_BACKUP,
    KIND_BASE_BACKUP,
    KIND_DRILL,
    KIND_REPORT,
    KIND_RESTORE,
    TAG_APP,
    TAG_KIND,
)
from dr_assets.core.wal.slot_watch import watch_servers
from dr_assets.defs.resources import DRResource

# A report not stored is evidence lost; a failed base backup's alert names server:NAME.
WATCHED_KINDS = (KIND_BACKUP, KIND_BASE_BACKUP, KIND_DRILL, KIND_RESTORE, KIND_REPORT)


@dg.sensor(minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Evaluates the alert conditions (and every protected server's slot), "
                        "opens, delivers and resolves alerts.")
def alert_sensor(context: dg.SensorEvaluationContext, dr: DRResource) -> dg.SkipReason:
    rt = dr.runtime()
    for problem in watch_servers(rt.config, rt.catalog):
        context.log.warning(problem)
    status = estate_status(rt.config, rt.catalog)
    health = {a.app: a for a in status.health.apps}
    conditions = evaluate(rt.config.apps, status.facts, health, status.now,
                          rt.config.storage_quota_bytes)
    changes = reconcile(rt.catalog, conditions, rt.config.webhooks)
    for err in changes.delivery_errors:
        context.log.warning(f"webhook delivery failed: {err}")
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
    app = run.tags.get(TAG_APP, "*")
    error = context.failure_event.message or "run failed"
    open_run_failure(rt.catalog, app, run.job_name, run.run_id, error[:500], rt.config.webhooks)
