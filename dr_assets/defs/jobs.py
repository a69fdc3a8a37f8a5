"""One backup job per cadence and one drill job (the app is each run's asset selection),
per-server base backup jobs, and their schedules."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence

import dagster as dg

from dr_assets.core.policy import AppPolicy, ServerPolicy
from dr_assets.core.runs import (
    DRILL_JOB,
    KIND_BACKUP,
    KIND_BASE_BACKUP,
    KIND_DRILL,
    TAG_PARTITION,
    LaunchRequest,
    backup_job_name,
    base_backup_job_name,
    drill_launch,
    kind_tags,
    retention_launch,
    server_run_tags,
)
from dr_assets.defs.keys import backup_key, base_backup_key, drill_key
from dr_assets.defs.partitions import base_backup_partitions, cadence_partitions
from dr_assets.defs.resources import DRResource
from dr_assets.defs.tickets import scheduled


def backup_job(every_hours: int, apps: Sequence[str]) -> dg.UnresolvedAssetJobDefinition:
    """The backups of every app of one cadence; a run selects its app's asset (and checks)."""
    return dg.define_asset_job(
        backup_job_name(every_hours),
        selection=dg.AssetSelection.assets(*(backup_key(a) for a in apps)),
        partitions_def=cadence_partitions(every_hours),
        tags=kind_tags(KIND_BACKUP),
        executor_def=dg.in_process_executor,
        description=f"Back up an app of the {every_hours} h cadence and verify every copy "
                    "(the app is the run's asset selection).",
    )


def drill_job(apps: Sequence[str]) -> dg.UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        DRILL_JOB,
        selection=dg.AssetSelection.assets(*(drill_key(a) for a in apps)),
        tags=kind_tags(KIND_DRILL),
        executor_def=dg.in_process_executor,
        description="Restore drill of an app into a scratch database (the app is the run's "
                    "asset selection).",
    )


def base_backup_job(policy: ServerPolicy) -> dg.UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        base_backup_job_name(policy.name),
        selection=dg.AssetSelection.assets(base_backup_key(policy.name)),
        partitions_def=base_backup_partitions(policy),
        tags=server_run_tags(policy.name, KIND_BASE_BACKUP),
        executor_def=dg.in_process_executor,
        description=f"Base backup of server {policy.name}; every copy verified, the WAL "
                    "chain from its start checked.",
    )


def cadence_schedule(name: str, job: dg.UnresolvedAssetJobDefinition
                     ) -> dg.UnresolvedPartitionedAssetScheduleDefinition:
    return dg.build_schedule_from_partitioned_job(
        job, name=name, default_status=dg.DefaultScheduleStatus.RUNNING,
    )


def base_backup_schedule(policy: ServerPolicy, job: dg.UnresolvedAssetJobDefinition
                         ) -> dg.UnresolvedPartitionedAssetScheduleDefinition:
    return cadence_schedule(f"{policy.name}_base_backup_schedule", job)


def drill_schedule_name(cron: str) -> str:
    return f"restore_drill_schedule_{hashlib.sha256(cron.encode()).hexdigest()[:8]}"


def drill_schedules(policies: Sequence[AppPolicy], job: dg.UnresolvedAssetJobDefinition
                    ) -> list[dg.ScheduleDefinition]:
    """One schedule per distinct drill_cron (few, whatever the number of apps): each tick
    requests one drill run per app of that cron."""
    by_cron: dict[str, list[str]] = defaultdict(list)
    for p in policies:
        by_cron[p.drill_cron].append(p.name)
    return [_drill_schedule(cron, sorted(apps), job) for cron, apps in sorted(by_cron.items())]


def _drill_schedule(cron: str, apps: list[str], job: dg.UnresolvedAssetJobDefinition
                    ) -> dg.ScheduleDefinition:
    @dg.schedule(name=drill_schedule_name(cron), cron_schedule=cron, job=job,
                 execution_timezone="UTC", default_status=dg.DefaultScheduleStatus.RUNNING,
                 description=f"Restore drills at {cron} (UTC) of {len(apps)} app(s): "
                             + ", ".join(apps[:10]) + (" ..." if len(apps) > 10 else ""))
    def drills(context: dg.ScheduleEvaluationContext, dr: DRResource) -> list[dg.RunRequest]:
        rt = dr.runtime()
        name = drill_schedule_name(cron)
        return [run_request(scheduled(drill_launch(app), rt, name), run_key=app) for app in apps]

    return drills


RETENTION_SCHEDULE = "retention_schedule"


def run_request(request: LaunchRequest, run_key: str | None, partition: str | None = None
                ) -> dg.RunRequest:
    """The run contract's launch as a schedule's or sensor's run request."""
    tags = {k: v for k, v in request.tags.items() if k != TAG_PARTITION}
    return dg.RunRequest(
        run_key=run_key, job_name=request.job, tags=tags, partition_key=partition,
        asset_selection=[dg.AssetKey(list(p)) for p in request.asset_selection] or None,
    )


def retention_schedule(job: dg.JobDefinition) -> dg.ScheduleDefinition:
    """Retention of every app and server, daily at 02:30 UTC."""
    @dg.schedule(name=RETENTION_SCHEDULE, cron_schedule="30 2 * * *", job=job,
                 execution_timezone="UTC", default_status=dg.DefaultScheduleStatus.RUNNING)
    def retention(context: dg.ScheduleEvaluationContext, dr: DRResource) -> dg.RunRequest:
        return run_request(scheduled(retention_launch(), dr.runtime(), RETENTION_SCHEDULE),
                           run_key=None)

    return retention
