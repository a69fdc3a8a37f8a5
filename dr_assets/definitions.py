"""The Dagster code location: built from dr.toml, so adding an app adds its assets.

What grows with the apps is asset specs (and their checks); jobs, schedules and sensors grow
with the cadences, the drill crons and the protected servers only: one backup job per
cadence, started per app at its offset by one sensor, one drill job, one drill schedule per
distinct cron. A run names its app by its asset selection.
"""

from __future__ import annotations

import os
from collections import defaultdict

import dagster as dg

from dr_assets.core.policy import config_path, load_config
from dr_assets.core.scheduling.sources import backup_groups
from dr_assets.defs import assets, backup_sensor, checks, compliance, jobs, ops, pitr_drills, sensors
from dr_assets.defs.resources import DRResource


def build_definitions(path: str | None = None) -> dg.Definitions:
    cfg_path = config_path(path)
    config = load_config(cfg_path)
    policies = list(config.apps.values())
    servers = list(config.servers.values())
    groups = backup_groups(config)
    by_cadence: dict[int, list[str]] = defaultdict(list)
    for group in groups:
        by_cadence[group.every_hours] += group.apps
    backup_jobs = [jobs.backup_job(h, apps) for h, apps in sorted(by_cadence.items())]
    drill_job = jobs.drill_job(sorted(config.apps))
    base_backup_jobs = {s.name: jobs.base_backup_job(s) for s in servers}
    report_job = compliance.compliance_report_job()
    pitr_jobs = {s.name: pitr_drills.pitr_drill_job(s) for s in servers}
    return dg.Definitions(
        assets=[*(assets.database_spec(p) for p in policies),
                *(assets.backup_assets(g, config.apps) for g in groups),
                *(assets.drill_assets(g, config.apps) for g in groups),
                *(assets.base_backup_asset(s) for s in servers),
                compliance.compliance_report_asset(policies)],
        asset_checks=[*(checks.backup_checks(g, config.apps) for g in groups),
                      *(checks.base_backup_checks(s) for s in servers)],
        jobs=[*backup_jobs, drill_job, *base_backup_jobs.values(),
              ops.restore_job, ops.retention_job, ops.catalog_sync_job, report_job,
              *pitr_jobs.values()],
        schedules=[
            *jobs.drill_schedules(policies, drill_job),
            *(jobs.base_backup_schedule(s, base_backup_jobs[s.name]) for s in servers),
            jobs.retention_schedule(ops.retention_job),
            dg.ScheduleDefinition(name="catalog_sync_schedule", job=ops.catalog_sync_job,
                                  cron_schedule="15 * * * *", execution_timezone="UTC",
                                  default_status=dg.DefaultScheduleStatus.RUNNING),
            compliance.compliance_report_schedule(report_job),
            *(pitr_drills.pitr_drill_schedule(config.servers[n], j) for n, j in pitr_jobs.items()),
        ],
        sensors=[backup_sensor.backup_windows_sensor(policies, backup_jobs),
                 sensors.alert_sensor, sensors.run_failure_alert_sensor],
        resources={"dr": DRResource(config_path=str(os.path.abspath(cfg_path)))},
    )


defs = build_definitions()
