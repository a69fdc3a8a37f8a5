"""The code location of a large estate (bench/estate.py's dr.toml of a few hundred apps):
it loads with every app's assets and checks while its jobs, schedules and sensors stay as
few as at thirty apps, and its backup sensor requests each app's backup at its offset, in
its cadence's job, with its asset selected."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

import dagster as dg
import pytest

from dr_assets.core.access.tickets import DRILL, verify_ticket
from dr_assets.core.policy import load_config
from dr_assets.core.runs import BACKUP_SENSOR, DRILL_JOB, TAG_TICKET, backup_job_name
from dr_assets.core.runtime import DRRuntime
from dr_assets.core.scheduling.due import due_backups
from dr_assets.definitions import build_definitions
from dr_assets.defs.jobs import drill_schedule_name
from dr_assets.defs.resources import DRResource

BENCH = Path(__file__).resolve().parents[2] / "bench"
CATALOG = "postgresql://postgres@127.0.0.1:5432/dr_unused"  # never connected to here


def estate() -> ModuleType:
    sys.path.insert(0, str(BENCH))
    try:
        return importlib.import_module("estate")
    finally:
        sys.path.remove(str(BENCH))


@pytest.fixture(scope="module")
def large(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return estate().write_estate(tmp_path_factory.mktemp("estate300"), 300, CATALOG)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return estate().write_estate(tmp_path_factory.mktemp("estate30"), 30, CATALOG)


def counts(repo: dg.RepositoryDefinition) -> tuple[int, int, int]:
    return len(repo.get_all_jobs()), len(repo.schedule_defs), len(repo.sensor_defs)


def test_every_app_has_its_assets_and_checks_and_the_jobs_do_not_grow(
        large: Path, small: Path) -> None:
    repo = build_definitions(str(large)).get_repository_def()
    keys = repo.asset_graph.get_all_asset_keys()
    checks = repo.asset_graph.asset_check_keys
    apps = load_config(large).apps
    assert len(apps) == 300
    for app in apps:
        assert {dg.AssetKey([app, n]) for n in ("database", "backup", "restore_drill")} <= keys
        assert {dg.AssetCheckKey(dg.AssetKey([app, "backup"]), "checksum_verified"),
                dg.AssetCheckKey(dg.AssetKey([app, "backup"]), "rpo_fresh"),
                dg.AssetCheckKey(dg.AssetKey([app, "restore_drill"]), "rto_met")} <= checks
    assert counts(repo) == counts(build_definitions(str(small)).get_repository_def())


def test_the_backup_sensor_requests_each_due_app_once_at_its_offset(large: Path) -> None:
    defs = build_definitions(str(large))
    repo = defs.get_repository_def()
    config = load_config(large)
    sensor = repo.get_sensor_def(BACKUP_SENSOR)
    looked_from = datetime.now(UTC) - timedelta(hours=2)
    with dg.DagsterInstance.ephemeral() as instance:
        ctx = dg.build_sensor_context(instance=instance, cursor=looked_from.isoformat(),
                                      repository_def=repo)
        result = sensor.evaluate_tick(ctx)
    requests = result.run_requests or []
    assert result.cursor is not None and datetime.fromisoformat(result.cursor) > looked_from
    until = datetime.fromisoformat(result.cursor)
    expected = {d.app: d for d in due_backups(config.apps.values(), looked_from, until)}
    hourly = {a for a, p in config.apps.items() if p.every_hours == 1}
    assert hourly <= set(expected)  # two hours back: every hourly app is due
    by_app = {}
    for request in requests:
        [key] = request.asset_selection or []
        app = key.path[0]
        assert key == dg.AssetKey([app, "backup"]) and app not in by_app
        by_app[app] = request
        policy = config.apps[app]
        assert request.job_name == backup_job_name(policy.every_hours)
        assert request.partition_key == expected[app].partition
        assert request.tags["dr/app"] == app and request.tags["dr/backup"] == app
        assert request.run_key == f"{app}:{expected[app].partition}"
    assert set(by_app) == set(expected)


def test_drill_schedules_request_one_run_per_app(large: Path) -> None:
    repo = build_definitions(str(large)).get_repository_def()
    schedule = repo.get_schedule_def(drill_schedule_name("0 3 1 * *"))
    with dg.DagsterInstance.ephemeral() as instance:
        ctx = dg.build_schedule_context(instance=instance, repository_def=repo,
                                        scheduled_execution_time=datetime(2026, 12, 1, 3,
                                                                          tzinfo=UTC),
                                        resources={"dr": DRResource(config_path=str(large))})
        data = schedule.evaluate_tick(ctx)
    requests = data.run_requests or []
    assert len(requests) == 300
    assert {r.job_name for r in requests} == {DRILL_JOB}
    assert {r.asset_selection[0].path[0] for r in requests if r.asset_selection} == set(
        load_config(large).apps)
    # Each run carries its own ticket for its own app's drill, asked by the schedule.
    keys = DRRuntime.load(str(large)).ticket_keys
    for r in requests[:5]:
        app = r.asset_selection[0].path[0] if r.asset_selection else ""
        ticket = verify_ticket(keys, r.tags[TAG_TICKET], action=DRILL, args={"apps": [app]},
                               run_created=datetime.now(UTC))
        assert ticket.who == f"schedule:{drill_schedule_name('0 3 1 * *')}"
    assert len({r.tags[TAG_TICKET] for r in requests}) == 300


def test_dagster_validates_the_large_code_location(large: Path) -> None:
    dagster = Path(sys.executable).parent / "dagster"
    proc = subprocess.run([str(dagster), "definitions", "validate", "-m", "dr_assets.definitions"],
                          cwd=large.parent, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "DR_CONFIG": str(large)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
