"""The Dagster code location: built from dr.toml, so adding an app adds its assets."""

from __future__ import annotations

import os

import dagster as dg

from dr_assets.core.policy import config_path, load_config
from dr_assets.defs import assets, checks, compliance, jobs, ops, pitr_drills, sensors
from dr_assets.defs.resources import DRResource


def build_definitions(path: str | None = None) -> dg.Definitions:
    cfg_path = config_path(path)
    config = load_config(cfg_path)
    policies = list(config.apps.values())
    servers = list(config.servers.values())
    backup_jobs = {p.name: jobs.backup_job(p) for p in policies}
    base_backup_jobs = {s.name: jobs.base_backup_job(s) for s in servers}
    drill_jobs = {p.name: jobs.drill_job(p) for p in policies}
    report_job = compliance.compliance_report_job()
    pitr_jobs = {s.name: pitr_drills.pitr_drill_job(s) for s in servers}
    return dg.Definitions(
        assets=[*(a for p in policies for a in (assets.database_spec(p), assets.backup_asset(p),
                                                 assets.drill_asset(p))),
                *(assets.base_backup_asset(s) for s in servers),
                compliance.compliance_report_asset(policies)],
        asset_checks=[*(checks.backup_checks(p) for p in policies),
                      *(checks.base_backup_checks(s) for s in servers)],
        jobs=[*backup_jobs.values(), *drill_jobs.values(), *base_backup_jobs.values(),
              ops.restore_job, ops.retention_job, ops.catalog_sync_job, report_job,
              *pitr_jobs.values()],
        schedules=[
            *(jobs.backup_schedule(p, backup_jobs[p.name]) for p in policies),
            *(jobs.base_backup_schedule(s, base_backup_jobs[s.name]) for s in servers),
            *(jobs.drill_schedule(p, drill_jobs[p.name]) for p in policies),
            dg.ScheduleDefinition(name="retention_schedule", job=ops.retention_job,
                                  cron_schedule="30 2 * * *", execution_timezone="UTC",
                                  default_status=dg.DefaultScheduleStatus.RUNNING),
            dg.ScheduleDefinition(name="catalog_sync_schedule", job=ops.catalog_sync_job,
                                  cron_schedule="15 * * * *", execution_timezone="UTC",
                                  default_status=dg.DefaultScheduleStatus.RUNNING),
            compliance.compliance_report_schedule(report_job),
            *(pitr_drills.pitr_drill_schedule(config.servers[n], j) for n, j in pitr_jobs.items()),
        ],
        sensors=[sensors.alert_sensor, sensors.run_failure_alert_sensor],
        resources={"dr": DRResource(config_path=str(os.path.abspath(cfg_path)))},
    )


defs = build_definitions()
