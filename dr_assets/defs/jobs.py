"""Per-app backup and drill jobs, per-server base backup jobs, and their schedules."""

from __future__ import annotations

import dagster as dg

from dr_assets.core.policy import AppPolicy, ServerPolicy
from dr_assets.core.runs import (
    KIND_BACKUP,
    KIND_BASE_BACKUP,
    KIND_DRILL,
    backup_job_name,
    base_backup_job_name,
    drill_job_name,
    run_tags,
    server_run_tags,
)
from dr_assets.defs.keys import backup_key, base_backup_key, drill_key
from dr_assets.defs.partitions import backup_partitions, base_backup_partitions


def backup_job(policy: AppPolicy) -> dg.UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        backup_job_name(policy.name),
        selection=dg.AssetSelection.assets(backup_key(policy.name)),
        partitions_def=backup_partitions(policy),
        tags=run_tags(policy.name, KIND_BACKUP),
        executor_def=dg.in_process_executor,
        description=f"Back up {policy.name} and verify every copy.",
    )


def drill_job(policy: AppPolicy) -> dg.UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        drill_job_name(policy.name),
        selection=dg.AssetSelection.assets(drill_key(policy.name)),
        tags=run_tags(policy.name, KIND_DRILL),
        executor_def=dg.in_process_executor,
        description=f"Restore drill of {policy.name} into a scratch database.",
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


def backup_schedule(policy: AppPolicy, job: dg.UnresolvedAssetJobDefinition
                    ) -> dg.UnresolvedPartitionedAssetScheduleDefinition:
    return cadence_schedule(f"{policy.name}_backup_schedule", job)


def base_backup_schedule(policy: ServerPolicy, job: dg.UnresolvedAssetJobDefinition
                         ) -> dg.UnresolvedPartitionedAssetScheduleDefinition:
    return cadence_schedule(f"{policy.name}_base_backup_schedule", job)


def drill_schedule(policy: AppPolicy, job: dg.UnresolvedAssetJobDefinition
                   ) -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(
        name=f"{policy.name}_drill_schedule", job=job, cron_schedule=policy.drill_cron,
        execution_timezone="UTC", default_status=dg.DefaultScheduleStatus.RUNNING,
    )
