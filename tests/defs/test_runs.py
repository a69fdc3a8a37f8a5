"""Dagster in process against real PostgreSQL and SeaweedFS: backups, checks, drills,
alerts, retention."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import dagster as dg
import pytest

from dr_assets.core.format.manifest import manifest_key, object_key
from dr_assets.core.runs import KIND_BACKUP, RETENTION_JOB, RETENTION_OP, drill_launch, run_tags
from dr_assets.core.scheduling.sources import backup_groups
from dr_assets.definitions import build_definitions
from dr_assets.defs import assets, checks
from dr_assets.defs.resources import DRResource
from dr_assets.defs.sensors import alert_sensor, run_failure_alert_sensor
from tests.support.env import DREnv
from tests.support.pg import load_fidelity, run_sql
from tests.support.tickets import ticket_tags, ticketed
from tests.support.webhook import Webhook

PARTITION = "2026-11-25-00:00"


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.close()


class Location:
    """The code location built from one test's dr.toml, with helpers to run it."""

    def __init__(self, env: DREnv) -> None:
        self.env = env
        self.defs = build_definitions(str(env.config_path))
        self.instance = dg.DagsterInstance.ephemeral()
        self.resources = {"dr": DRResource(config_path=str(env.config_path))}

    def assets_of(self, app: str) -> list[Any]:
        """The app's group's assets and checks, from the same factories the code location
        uses (a run selects the app's own)."""
        config = self.env.runtime().config
        [group] = [g for g in backup_groups(config) if app in g.apps]
        return [assets.backup_assets(group, config.apps), assets.drill_assets(group, config.apps),
                checks.backup_checks(group, config.apps)]

    def backup(self, app: str, partition: str = PARTITION) -> dg.ExecuteInProcessResult:
        return dg.materialize(
            self.assets_of(app), partition_key=partition, instance=self.instance,
            resources=self.resources,
            selection=dg.AssetSelection.assets(dg.AssetKey([app, "backup"])),
            tags=run_tags(app, KIND_BACKUP),
        )

    def run_checks(self, app: str) -> dict[str, bool]:
        result = dg.materialize(
            self.assets_of(app), instance=self.instance, resources=self.resources,
            selection=dg.AssetSelection.checks_for_assets(dg.AssetKey([app, "backup"])),
            raise_on_error=False,
        )
        return checks_of(result)

    def drill(self, app: str) -> dg.ExecuteInProcessResult:
        return dg.materialize(
            self.assets_of(app), instance=self.instance, resources=self.resources,
            selection=dg.AssetSelection.assets(dg.AssetKey([app, "restore_drill"])),
            raise_on_error=False, tags=ticketed(self.env.config_path, drill_launch(app)),
        )

    def sense_alerts(self) -> None:
        ctx = dg.build_sensor_context(instance=self.instance, resources=self.resources)
        alert_sensor(ctx)


def checks_of(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def materialization(result: dg.ExecuteInProcessResult, *path: str) -> dg.AssetMaterialization:
    [mat] = [e.step_materialization_data.materialization
             for e in result.get_asset_materialization_events()
             if e.asset_key == dg.AssetKey(list(path))]
    return mat


def test_backup_partition_records_run_and_partition_and_checks_pass(dr_env: DREnv) -> None:
    loc = Location(dr_env)
    result = loc.backup("shop")
    assert result.success
    assert checks_of(result) == {"checksum_verified": True, "rpo_fresh": True,
                                 "contents_normal": True}
    mat = materialization(result, "shop", "backup")
    meta = {k: v.value for k, v in mat.metadata.items()}
    assert meta["status"] == "completed" and meta["degraded"] is False
    assert meta["row_counts"] == {"public.customers": 3000, "public.orders": 20000}
    row = dr_env.runtime().catalog.get_backup(str(meta["backup_id"]))
    assert row is not None
    assert row.dagster_run_id == result.run_id and row.partition_key == PARTITION
    assert row.sha256 == meta["sha256"]


def test_corrupted_copy_fails_checksum_verified_naming_the_copy(dr_env: DREnv) -> None:
    loc = Location(dr_env)
    result = loc.backup("shop")
    backup_id = str(materialization(result, "shop", "backup").metadata["backup_id"].value)
    path = dr_env.local_dir / object_key(backup_id)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    check = dg.materialize(
        loc.assets_of("shop"), instance=loc.instance, resources=loc.resources,
        selection=dg.AssetSelection.checks_for_assets(dg.AssetKey(["shop", "backup"])),
        raise_on_error=False,
    )
    assert not check.success  # checksum_verified is blocking: the run fails
    [evaluation] = [e for e in check.get_asset_check_evaluations()
                    if e.check_name == "checksum_verified"]
    assert not evaluation.passed
    assert evaluation.metadata["failed_copies"].value == "local"
    assert "failed its checksum on local" in (evaluation.description or "")


def test_rpo_violation_opens_one_alert_posts_it_and_a_fresh_backup_resolves_it(
    dr_env: DREnv, webhook: Webhook
) -> None:
    with dr_env.config_path.open("a") as fh:
        fh.write(f'\n[[alerts.webhooks]]\nurl = "{webhook.url}"\n')
    loc = Location(dr_env)
    assert loc.backup("shop").success
    run_sql(dr_env.catalog_db,
            "UPDATE dr.backups SET started_at = started_at - interval '30 hours'")
    assert loc.run_checks("shop")["rpo_fresh"] is False

    loc.sense_alerts()
    loc.sense_alerts()  # the condition still holds: no second alert, no second post
    alerts = run_sql(dr_env.catalog_db,
                     "SELECT kind, status FROM dr.alerts WHERE kind = 'rpo_violated'")
    assert alerts == [("rpo_violated", "open")]
    posted = [b for b in webhook.received if b["alert"]["kind"] == "rpo_violated"]
    assert len(posted) == 1 and posted[0]["event"] == "opened"
    assert "RPO of 24 h violated" in posted[0]["text"] and "30." in posted[0]["text"]

    assert loc.backup("shop", "2026-11-25-06:00").success
    loc.sense_alerts()
    assert run_sql(dr_env.catalog_db,
                   "SELECT status FROM dr.alerts WHERE kind = 'rpo_violated'") == [("resolved",)]
    assert [b["event"] for b in webhook.received if b["alert"]["kind"] == "rpo_violated"] == [
        "opened", "resolved"]


def test_drill_on_the_fidelity_fixture_passes_and_a_corrupted_one_fails_both_leave_no_scratch(
    dr_env: DREnv, make_db: Callable[[str], str]
) -> None:
    source = make_db("fidelity")
    load_fidelity(source)
    env = dr_env.with_apps({"fidelity": source})
    loc = Location(env)
    backup = loc.backup("fidelity")
    assert backup.success
    taken = materialization(backup, "fidelity", "backup")
    row_counts = taken.metadata["row_counts"].value
    assert isinstance(row_counts, dict) and sum(row_counts.values()) > 10000
    drill = loc.drill("fidelity")
    assert drill.success
    assert checks_of(drill) == {"rto_met": True}
    mat = materialization(drill, "fidelity", "restore_drill")
    assert mat.metadata["scratch_dropped"].value is True
    # Isolated by default: onto an empty throwaway server, its start-up reported apart.
    assert mat.metadata["target"].value == "isolated"
    start = mat.metadata["instance_start_seconds"].value
    assert isinstance(start, float) and start > 0
    assert str(mat.metadata["server_version"].value).split(".")[0].isdigit()
    assert mat.metadata["tables"].value == len(row_counts)
    assert mat.metadata["rows"].value == sum(row_counts.values())
    assert run_sql("postgres", "SELECT datname FROM pg_database WHERE datname LIKE 'drill_%'") == []

    # Corrupt every copy of the newest verified backup: the drill fails and cleans up.
    [row] = env.runtime().catalog.list_backups(app="fidelity")
    for store in env.runtime().stores:
        store.put_bytes(object_key(row.backup_id), b"garbage")
    failed = loc.drill("fidelity")
    assert not failed.success
    assert run_sql("postgres", "SELECT datname FROM pg_database WHERE datname LIKE 'drill_%'") == []
    drills = env.runtime().catalog.list_drills(app="fidelity")
    assert [d.status for d in drills] == ["failed", "passed"]
    assert drills[0].scratch_dropped is True and "no good copy" in (drills[0].error or "")

    # The run-failure sensor turns the failed run into an alert.
    ctx = dg.build_run_status_sensor_context(
        sensor_name="run_failure_alert_sensor", dagster_instance=loc.instance,
        dagster_run=failed.dagster_run, dagster_event=failed.get_run_failure_event(),
        resources=loc.resources,
    ).for_run_failure()
    run_failure_alert_sensor(ctx)
    opened = run_sql(env.catalog_db, "SELECT app, kind, message FROM dr.alerts")
    assert any(kind.startswith("run_failed") and failed.run_id in msg for _, kind, msg in opened)


def test_retention_job_deletes_exactly_what_the_rules_say(dr_env: DREnv) -> None:
    text = dr_env.config_path.read_text().replace("retention_days = 90",
                                                  "retention_days = 30\nmin_keep = 2")
    dr_env.config_path.write_text(text)
    loc = Location(dr_env)
    ids = []
    for i in range(4):
        result = loc.backup("shop", f"2026-11-2{i}-00:00")
        ids.append(str(materialization(result, "shop", "backup")
                       .metadata["backup_id"].value))
    # Age the three oldest past the window: min_keep=2 keeps the newest two verified ones,
    # so exactly the oldest two go.
    for days, backup_id in zip((40, 50, 60), ids[2::-1], strict=True):
        run_sql(dr_env.catalog_db, f"UPDATE dr.backups SET started_at = now() - interval "
                                   f"'{days} days' WHERE backup_id = '{backup_id}'")
    job = loc.defs.get_job_def(RETENTION_JOB)
    dry_config = {"ops": {RETENTION_OP: {"config": {"app": "shop", "dry_run": True}}}}
    dry = job.execute_in_process(run_config=dry_config, instance=loc.instance,
                                 tags=ticket_tags(dr_env.config_path, RETENTION_JOB, dry_config))
    [plan] = dry.output_for_node(RETENTION_OP)
    assert sorted(plan["would_delete"]) == sorted(ids[:2])
    assert all((dr_env.local_dir / object_key(b)).exists() for b in ids)

    apply = {"ops": {RETENTION_OP: {"config": {"app": "shop"}}}}
    job.execute_in_process(run_config=apply, instance=loc.instance,
                           tags=ticket_tags(dr_env.config_path, RETENTION_JOB, apply))
    rt = dr_env.runtime()
    for backup_id in ids[:2]:
        assert not (dr_env.local_dir / object_key(backup_id)).exists()
        assert not (dr_env.local_dir / manifest_key(backup_id)).exists()
        assert next(s for s in rt.stores if s.kind == "s3").size(object_key(backup_id)) is None
        row = rt.catalog.get_backup(backup_id)
        assert row is not None and row.status == "deleted" and "retention" in (row.error or "")
    assert {r.backup_id for r in rt.catalog.list_backups(app="shop")} == set(ids[2:])

    # A deletion older than keep_deleted_days (400 by default): the next run purges its row.
    run_sql(dr_env.catalog_db, "UPDATE dr.backups SET deleted_at = now() - interval '401 days'"
                               f" WHERE backup_id = '{ids[0]}'")
    purged = job.execute_in_process(run_config=apply, instance=loc.instance,
                                    tags=ticket_tags(dr_env.config_path, RETENTION_JOB, apply))
    [outcome] = purged.output_for_node(RETENTION_OP)
    assert outcome["purged"] == {"backups": 1}
    assert rt.catalog.get_backup(ids[0]) is None and rt.catalog.get_backup(ids[1]) is not None
    [entry] = rt.catalog.audit_page(action="purgeDeletedRows")
    assert (entry.actor, entry.role) == ("dagster:ada", "admin")
    assert "the rows of 1 backups" in (entry.detail or "")
