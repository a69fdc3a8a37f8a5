"""The whole code location loads from dr.toml with every app's assets, checks and lineage,
in a fixed number of jobs, schedules and sensors: one backup job per cadence, one drill job,
one drill schedule per cron, one backup sensor."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from dr_assets.core.runs import DRILL_JOB, backup_job_name
from dr_assets.definitions import build_definitions
from dr_assets.defs.jobs import drill_schedule_name

REPO = Path(__file__).resolve().parents[2]
CADENCE = {"scholarship_api": "0 */6 * * *", "auto_command_center": "0 */4 * * *",
           "student_dashboard": "0 */12 * * *"}


@pytest.fixture(scope="module")
def repo() -> dg.RepositoryDefinition:
    return build_definitions(str(REPO / "dr.toml")).get_repository_def()


def test_every_app_has_its_assets_and_checks(repo: dg.RepositoryDefinition) -> None:
    keys = {k.to_user_string() for k in repo.asset_graph.get_all_asset_keys()}
    checks = {c.to_user_string() for c in repo.asset_graph.asset_check_keys}
    for app in CADENCE:
        assert {f"{app}/database", f"{app}/backup", f"{app}/restore_drill"} <= keys
        assert {f"{app}/backup:checksum_verified", f"{app}/backup:rpo_fresh",
                f"{app}/backup:contents_normal", f"{app}/restore_drill:rto_met"} <= checks
        # Lineage: database -> backup -> restore_drill, each in the app's own group.
        node = repo.asset_graph.get(dg.AssetKey([app, "backup"]))
        assert dg.AssetKey([app, "database"]) in node.parent_keys
        assert node.group_name == app
        drill = repo.asset_graph.get(dg.AssetKey([app, "restore_drill"]))
        assert dg.AssetKey([app, "backup"]) in drill.parent_keys


def test_partitions_follow_each_apps_cadence(repo: dg.RepositoryDefinition) -> None:
    for app, cron in CADENCE.items():
        partitions = repo.asset_graph.get(dg.AssetKey([app, "backup"])).partitions_def
        assert isinstance(partitions, dg.TimeWindowPartitionsDefinition)
        assert partitions.cron_schedule == cron
        keys = partitions.get_partition_keys_in_range(
            dg.PartitionKeyRange("2026-11-01-00:00", "2026-11-02-00:00"))
        assert len(keys) == 24 // int(cron.split("/")[1].split()[0]) + 1


def test_jobs_schedules_and_sensors(repo: dg.RepositoryDefinition) -> None:
    jobs = {j.name for j in repo.get_all_jobs()}
    schedules = {s.name: s for s in repo.schedule_defs}
    for every in (4, 6, 12):
        job = repo.get_job(backup_job_name(every))
        assert job.tags["dr/kind"] == "backup" and job.tags["dr/dump"] == "true"
        assert "dr/backup" not in job.tags  # the app's slot is each run's own tag
    assert {DRILL_JOB, "restore_job", "retention_job", "catalog_sync_job"} <= jobs
    drill = schedules[drill_schedule_name("0 3 1 * *")]
    assert drill.cron_schedule == "0 3 1 * *" and drill.job_name == DRILL_JOB  # monthly
    assert {s.name for s in repo.sensor_defs} == {
        "backup_windows_sensor", "alert_sensor", "run_failure_alert_sensor"}


def test_queued_runs_start_restores_first_then_backups(repo: dg.RepositoryDefinition) -> None:
    def priority(job: str) -> int:
        return int(repo.get_job(job).tags["dagster/priority"])

    order = [priority("restore_job"), priority(backup_job_name(6)), priority(DRILL_JOB),
             priority("retention_job"), priority("catalog_sync_job")]
    assert order == sorted(order, reverse=True) and order[0] > order[1] > order[2]


def test_dagster_definitions_validate_passes() -> None:
    dagster = Path(sys.executable).parent / "dagster"
    proc = subprocess.run([str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Validation successful" in proc.stdout + proc.stderr
