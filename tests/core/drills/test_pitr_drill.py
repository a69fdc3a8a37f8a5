"""A point-in-time drill recovers the server to a restore point recorded while rows were
being written and finds exactly the recorded rows; a record that disagrees fails the drill,
naming the table and both counts. Both are drills the catalog's evidence sees."""

from __future__ import annotations

import threading

from dr_assets.core.drills.pitr_drill import run_pitr_drill
from dr_assets.core.policy import DrillTarget
from dr_assets.core.statuses import DrillStatus
from dr_assets.core.wal.restore_points import record_restore_point
from dr_assets.definitions import build_definitions
from tests.support.pg import run_sql
from tests.support.pitr import PitrEnv
from tests.support.recovery import base_backup, streaming, switch_wal, tick, until_held


def test_a_drill_proves_an_exact_point_and_a_doctored_count_fails_it(pitr_env: PitrEnv) -> None:
    env = pitr_env
    rt = env.env.runtime()
    stop = threading.Event()

    def writer() -> None:
        while not stop.is_set():
            env.sql("INSERT INTO ticks (note) VALUES ('w')")

    with streaming(env):
        base_backup(env)
        thread = threading.Thread(target=writer, daemon=True)
        thread.start()
        try:
            points = [record_restore_point(rt.config, "main", rt.catalog) for _ in range(2)]
        finally:
            stop.set()
            thread.join()
        tick(env, 5, "after the points")
        until_held(rt, {switch_wal(env)})

    result = run_pitr_drill(rt.config, "main", stores=rt.stores, keyring=rt.keyring,
                            catalog=rt.catalog)
    assert result.passed, result.error
    assert result.point in {p.name for p in points}
    chosen = next(p for p in points if p.name == result.point)
    assert result.rows == sum(chosen.row_counts["shop"].values())
    assert result.recovery_seconds is not None and result.rto_met("shop")
    [drill] = rt.catalog.list_drills("shop")
    assert (drill.status, drill.target, drill.recovery_target) == (
        DrillStatus.PASSED, DrillTarget.POINT_IN_TIME, result.point)
    assert drill.restore_seconds == result.recovery_seconds
    assert rt.catalog.app_facts(["shop"], drill.finished_at)["shop"].last_drill is not None

    # drctl drill APP --point-in-time, and the Dagster schedule per server
    out = env.env.drctl("drill", "shop", "--point-in-time", "--point", chosen.name).stdout
    assert f"recovered to {chosen.name}" in out and "exactly as recorded" in out
    repo = build_definitions(str(env.config_path)).get_repository_def()
    schedule = next(s for s in repo.schedule_defs if s.name == "main_pitr_drill_schedule")
    assert schedule.cron_schedule == "0 5 1 * *" and schedule.job_name == "main_pitr_drill_job"

    # The record says one row more than the point had: recovery cannot give it, the drill fails.
    recorded = chosen.row_counts["shop"]["public.ticks"]
    run_sql(env.env.catalog_db, "UPDATE dr.restore_points SET row_counts = jsonb_set(row_counts,"
            f" '{{shop,public.ticks}}', '{recorded + 1}') WHERE name = '{chosen.name}'")
    failed = run_pitr_drill(rt.config, "main", stores=rt.stores, keyring=rt.keyring,
                            catalog=rt.catalog, point=chosen.name)
    assert not failed.passed and failed.error is not None
    assert (f"table public.ticks has {recorded} rows after recovery to {chosen.name}; the "
            f"restore point recorded {recorded + 1}") in failed.error
    newest = rt.catalog.list_drills("shop")[0]
    assert newest.status == DrillStatus.FAILED and newest.error == failed.error
