"""restore_job in process with the run contract's point-in-time config, against a real streamed
server: the new database holds exactly the rows committed at or before the moment, the run's
output and the catalog's restore row say so, and a config naming two targets fails the run
having made nothing."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from dr_assets.core.format.manifest import iso
from dr_assets.core.runs import RESTORE_JOB, RESTORE_OP, point_in_time_restore_launch
from dr_assets.definitions import build_definitions
from tests.support.pitr import PitrEnv
from tests.support.recovery import base_backup, rows_around_a_pause, streaming, switch_wal, until_held
from tests.support.tickets import ticket_tags, ticketed


def test_restore_job_restores_an_app_as_of_a_moment(pitr_env: PitrEnv,
                                                     instances_dir: Path) -> None:
    env = pitr_env
    config = env.config_path
    config.write_text(config.read_text() + f'[drills]\ninstances_dir = "{instances_dir}"\n')
    rt = env.env.runtime()
    before = set(instances_dir.iterdir())
    with streaming(env):
        base = base_backup(env)
        pause = rows_around_a_pause(env, n=10, pause=1.0)
        until_held(rt, {switch_wal(env)})

    job = build_definitions(str(config)).get_job_def(RESTORE_JOB)
    instance = dg.DagsterInstance.ephemeral()
    request = point_in_time_restore_launch("shop", "shop_then", requested_by="ada",
                                           to_time=iso(pause.moment))
    result = job.execute_in_process(run_config=dict(request.run_config), instance=instance,
                                    tags=ticketed(config, request))
    assert result.success
    got = env.sql("SELECT note, count(*), max(at) FROM ticks GROUP BY 1", "shop_then")
    assert [(r[0], r[1]) for r in got] == [("before", pause.before)]
    assert all(r[2] <= pause.moment for r in got)  # type: ignore[operator]
    assert env.sql("SELECT count(*) FROM customers", "shop_then") == [(500,)]
    output = result.output_for_node(RESTORE_OP)
    assert output["mode"] == "POINT_IN_TIME" and output["target_database"] == "shop_then"
    assert output["recovery"]["base_backup_id"] == base.backup_id
    [row] = [r for r in rt.catalog.list_restores() if r.target_database == "shop_then"]
    assert (row.mode, row.status, row.backup_id) == ("POINT_IN_TIME", "succeeded", base.backup_id)
    assert (row.requested_by, row.dagster_run_id) == ("ada", result.run_id)
    assert set(instances_dir.iterdir()) == before  # the recovered instance is gone

    # Two targets in one config: the run fails at once, nothing is made.
    two = {"ops": {RESTORE_OP: {"config": {
        **request.run_config["ops"][RESTORE_OP]["config"], "target_database": "shop_x",
        "to_latest": True}}}}
    failed = job.execute_in_process(run_config=two, instance=instance, raise_on_error=False,
                                    tags=ticket_tags(config, RESTORE_JOB, two))
    assert not failed.success
    [failure] = [e for e in failed.all_events if e.is_step_failure]
    assert "give exactly one target" in failure.step_failure_data.error.message  # type: ignore[union-attr]
    assert not env.sql("SELECT 1 FROM pg_database WHERE datname = 'shop_x'", "postgres")
    assert len(rt.catalog.list_restores()) == 1
