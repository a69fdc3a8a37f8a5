"""The run contract (dr_assets.core.runs) and the Dagster definitions cannot drift: every run
the API or `make up` launches is one its job accepts, the plain-Python backup partition is
the job's own, and the jobs' names, ops, tags and priorities are the contract's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import pytest

from dr_assets.core.policy import AppPolicy, DRConfig, load_config
from dr_assets.core.restore.selection import Selection
from dr_assets.core.runs import (
    CATALOG_SYNC_JOB,
    CATALOG_SYNC_OP,
    COMPLIANCE_REPORT_JOB,
    DRILL_JOB,
    KIND_BACKUP,
    KIND_BASE_BACKUP,
    KIND_CATALOG_SYNC,
    KIND_DRILL,
    KIND_REPORT,
    KIND_RESTORE,
    KIND_RETENTION,
    RESTORE_JOB,
    RESTORE_OP,
    RETENTION_JOB,
    RETENTION_OP,
    TAG_APP,
    TAG_KIND,
    TAG_PARTITION,
    TAG_REQUESTED_BY,
    LaunchRequest,
    backup_job_name,
    backup_launch,
    backup_partition,
    base_backup_job_name,
    drill_launch,
    kind_tags,
    pitr_drill_job_name,
    point_in_time_restore_launch,
    restore_launch,
    retention_launch,
    server_run_tags,
)
from dr_assets.definitions import build_definitions
from dr_assets.defs.partitions import backup_partitions
from graphql_api.operations.types import RestoreMode

REPO = Path(__file__).resolve().parents[2]
MOMENT = datetime(2026, 11, 26, 7, 30, tzinfo=UTC)
SAMPLE_ID = "scholarship_api-20261126T060000Z-3f9a"


@pytest.fixture(scope="module")
def config() -> DRConfig:
    return load_config(REPO / "dr.toml")


@pytest.fixture(scope="module")
def repo() -> dg.RepositoryDefinition:
    return build_definitions(str(REPO / "dr.toml")).get_repository_def()


def launches(config: DRConfig) -> list[LaunchRequest]:
    """Every run the API's mutations (each mode) and `make up` send, for every app."""
    found: list[LaunchRequest] = []
    for app, policy in config.apps.items():
        found += [backup_launch(policy, backup_partition(policy, MOMENT)), drill_launch(app),
                  retention_launch(app)]
        found += [restore_launch(app, SAMPLE_ID, f"{app}_restored", mode.value,
                                 force_disconnect=force, requested_by="ada")
                  for mode in RestoreMode for force in (False, True)]
        # Granular: the checked names, as the API passes them on (Selection.to_dict).
        chosen = Selection.of(["public.orders", '"Odd ""Names"""."T ñ"'], ["ledger"])
        assert chosen is not None
        found += [restore_launch(app, SAMPLE_ID, f"{app}_restored", RestoreMode.NEW_DATABASE.value,
                                 force_disconnect=False, requested_by="ada", **chosen.to_dict()),
                  restore_launch(app, SAMPLE_ID, f"{app}_restored", RestoreMode.NEW_DATABASE.value,
                                 force_disconnect=False, requested_by="ada", tables=["s.t"])]
        # Point in time: each target, the op's own fields beside a backup restore's.
        found += [point_in_time_restore_launch(app, f"{app}_then", requested_by="ada", **target)
                  for target in ({"to_time": "2026-11-26T06:00:00Z"}, {"to_lsn": "0/3000060"},
                                 {"to_latest": True})]
    return [r.requested_by("ada") for r in found]


def test_every_launched_run_config_is_one_its_job_accepts(config: DRConfig,
                                                          repo: dg.RepositoryDefinition) -> None:
    requests = launches(config)
    assert {r.job for r in requests} >= {RESTORE_JOB, RETENTION_JOB}
    for request in requests:
        job = repo.get_job(request.job)
        dg.validate_run_config(job, dict(request.run_config))
        # A launched tag never contradicts the job's own (kind, priority, the backup slot).
        assert {k: v for k, v in request.tags.items() if k in job.tags} == \
            {k: v for k, v in job.tags.items() if k in request.tags}, request.job
        assert request.tags[TAG_REQUESTED_BY] == "ada"
        if TAG_PARTITION in request.tags:
            assert job.partitions_def is not None
            with dg.partition_loading_context(effective_dt=MOMENT):
                assert job.partitions_def.has_partition_key(request.tags[TAG_PARTITION])
        # A run of a job shared by many apps selects assets the job holds: its app's.
        held = {tuple(k.path) for k in job.asset_layer.executable_asset_keys}
        assert set(request.asset_selection) <= held
        if request.asset_selection:
            assert {p[0] for p in request.asset_selection} == {request.tags[TAG_APP]}


def test_a_granular_restore_launch_carries_its_selection(repo: dg.RepositoryDefinition) -> None:
    request = restore_launch("shop", SAMPLE_ID, "shop_orders", "NEW_DATABASE",
                             force_disconnect=False, requested_by="ada",
                             tables=["shop.orders"], schemas=['"Odd"'])
    config = request.run_config["ops"][RESTORE_OP]["config"]
    assert (config["tables"], config["schemas"]) == (["shop.orders"], ['"Odd"'])
    job = repo.get_job(RESTORE_JOB)
    assert dg.validate_run_config(job, dict(request.run_config))["ops"][RESTORE_OP]["config"][
        "tables"] == ["shop.orders"]
    # A whole-database restore sends no selection at all: the config it had before.
    whole = restore_launch("shop", SAMPLE_ID, "shop_copy", "NEW_DATABASE",
                           force_disconnect=False, requested_by="ada")
    assert "tables" not in whole.run_config["ops"][RESTORE_OP]["config"]
    bad = {"ops": {RESTORE_OP: {"config": {**config, "tables": "shop.orders"}}}}
    with pytest.raises(dg.DagsterInvalidConfigError):
        dg.validate_run_config(job, bad)


def test_a_config_the_job_refuses_is_caught(repo: dg.RepositoryDefinition) -> None:
    # The check above is not vacuous: a field the op does not know fails validation.
    bad = {"ops": {RESTORE_OP: {"config": {"backup_id": SAMPLE_ID, "target_database": "x",
                                           "unknown_field": 1}}}}
    with pytest.raises(dg.DagsterInvalidConfigError):
        dg.validate_run_config(repo.get_job(RESTORE_JOB), bad)


def _policy(every_hours: int) -> AppPolicy:
    return AppPolicy(name="shop", database_url="postgresql://postgres@127.0.0.1:5432/shop",
                     rto_hours=1, rpo_hours=every_hours, every_hours=every_hours,
                     retention_days=7, critical=False)


MOMENTS = [
    datetime(2026, 10, 31, 23, 59, tzinfo=UTC),                # before the first window
    datetime(2026, 11, 1, tzinfo=UTC),                         # the first window starts
    datetime(2026, 11, 1, 0, 59, 59, tzinfo=UTC),
    datetime(2026, 11, 1, 1, tzinfo=UTC),                      # the first hour ends
    datetime(2026, 11, 3, tzinfo=UTC),
    MOMENT,
    datetime(2026, 11, 30, 23, 59, 59, 999999, tzinfo=UTC),    # a 30-day month ends
    datetime(2026, 12, 1, tzinfo=UTC),
    datetime(2026, 12, 31, 23, tzinfo=UTC),
    datetime(2027, 1, 1, 0, 0, 1, tzinfo=UTC),                 # a year ends
    datetime(2027, 3, 1, 12, tzinfo=UTC),                      # after a 28-day February
    datetime(2028, 3, 1, 5, tzinfo=UTC),                       # after a leap day
    datetime(2026, 11, 26, 9, 30, tzinfo=timezone(timedelta(hours=2))),  # not UTC
]


@pytest.mark.parametrize("every_hours", [1, 2, 3, 4, 6, 8, 12, 24, 48, 72, 168])
def test_the_backup_partition_of_a_moment_is_the_jobs_own(every_hours: int) -> None:
    policy = _policy(every_hours)
    partitions = backup_partitions(policy)
    sweep = [datetime(2026, 10, 30, tzinfo=UTC) + timedelta(minutes=97 * i) for i in range(1500)]
    for moment in MOMENTS + sweep:
        with dg.partition_loading_context(effective_dt=moment):
            expected = partitions.get_last_partition_key()
        assert backup_partition(policy, moment) == expected, moment
    assert backup_partition(policy, MOMENT) is not None  # not vacuous


def test_jobs_ops_tags_and_priorities_come_from_the_contract(config: DRConfig,
                                                             repo: dg.RepositoryDefinition) -> None:
    expected = {RESTORE_JOB: kind_tags(KIND_RESTORE), RETENTION_JOB: kind_tags(KIND_RETENTION),
                CATALOG_SYNC_JOB: kind_tags(KIND_CATALOG_SYNC),
                COMPLIANCE_REPORT_JOB: kind_tags(KIND_REPORT)}
    expected[DRILL_JOB] = kind_tags(KIND_DRILL)
    for every in {p.every_hours for p in config.apps.values()}:
        expected[backup_job_name(every)] = kind_tags(KIND_BACKUP)
    for server in config.servers:
        expected[base_backup_job_name(server)] = server_run_tags(server, KIND_BASE_BACKUP)
        expected[pitr_drill_job_name(server)] = server_run_tags(server, KIND_DRILL)
    assert config.servers, "the shipped dr.toml protects a server: its jobs are checked too"
    jobs = {j.name: j for j in repo.get_all_jobs() if not j.name.startswith("__")}
    assert {name: dict(job.tags) for name, job in jobs.items()} == expected
    ops = {RESTORE_JOB: RESTORE_OP, RETENTION_JOB: RETENTION_OP, CATALOG_SYNC_JOB: CATALOG_SYNC_OP}
    for name, op in ops.items():
        assert [n.name for n in jobs[name].nodes] == [op]
    assert jobs[RESTORE_JOB].nodes[0].definition.tags[TAG_KIND] == KIND_RESTORE
