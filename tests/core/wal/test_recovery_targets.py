"""Recovery targets at the edges: a time after the last commit the archived WAL holds but
inside the window (PostgreSQL ends recovery before reaching it; recovery goes on to the end
of WAL with every row), and a restore point by its name through drctl (the row counts it
recorded), an unknown name refused naming the newest."""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path

from dr_assets.core.wal.planning import read_window
from dr_assets.core.wal.recovery import recovered_server
from dr_assets.core.wal.restore_points import record_restore_point
from dr_assets.core.wal.targets import RecoveryTarget
from dr_assets.devstack import seaweed
from tests.support.pitr import PitrEnv, pitr_environment
from tests.support.recovery import base_backup, streaming, switch_wal, tick, ticks_on, until_held


def _server_now(env: PitrEnv) -> datetime:
    now = env.sql("SELECT clock_timestamp()", "postgres")[0][0]
    assert isinstance(now, datetime)
    return now


def test_a_time_after_the_last_commit_recovers_to_the_end_of_wal(
        tmp_path: Path, s3_server: seaweed.SeaweedServer, catalog_db: str,
        instances_dir: Path) -> None:
    # autovacuum off: no ANALYZE commits in the quiet stretch after the rows
    with pitr_environment(tmp_path, s3_server, catalog_db, instances_dir,
                          settings={"autovacuum": "off"}) as env:
        rt = env.env.runtime()
        with streaming(env):
            base_backup(env)
            tick(env, 10, "quiet")
            time.sleep(1.0)
            moment = _server_now(env)  # after the last commit; nothing commits after it
            time.sleep(0.5)
            until_held(rt, {switch_wal(env)})  # received after the moment
        window = read_window("main", rt.stores, rt.keyring)
        assert window.latest is not None and moment < window.latest
        assert max(at for _, at, _ in ticks_on(env.server.port)) < moment
        with recovered_server(rt.config, "main", RecoveryTarget.at_time(moment),
                              keyring=rt.keyring, stores=rt.stores,
                              parent=instances_dir) as rec:
            assert rec.instance is not None
            got = [n for _, _, n in ticks_on(rec.instance.port)]
        assert rec.to_end_of_wal  # PostgreSQL ended recovery before the target: restarted
        assert got == ["quiet"] * 10


def test_restore_to_a_restore_point_by_name(pitr_env: PitrEnv, instances_dir: Path) -> None:
    env = pitr_env
    rt = env.env.runtime()
    config = env.config_path
    config.write_text(config.read_text() + f'[drills]\ninstances_dir = "{instances_dir}"\n')
    with streaming(env):
        base_backup(env)
        tick(env, 7, "before")
        point = record_restore_point(rt.config, "main", rt.catalog)
        tick(env, 5, "after")
        until_held(rt, {switch_wal(env)})
    assert point.row_counts["shop"]["public.ticks"] == 7

    out = env.env.drctl("restore", "shop", "--to-point", point.name, "--target-db",
                        "shop_point", "--json")
    doc = json.loads(out.stdout)
    assert doc["recovery"]["target"]["name"] == point.name and not doc["recovery"]["to_end_of_wal"]
    got = env.sql("SELECT 'public.ticks', count(*) FROM ticks UNION ALL "
                  "SELECT 'public.customers', count(*) FROM customers", "shop_point")
    assert {str(t): n for t, n in got} == point.row_counts["shop"]

    missing = instances_dir / "never"
    unknown = env.env.drctl("restore-server", "main", "--to-point", "dr_nope", "--data-dir",
                            str(missing), check=False)
    assert unknown.returncode == 1
    assert "no restore point 'dr_nope'" in unknown.stderr and point.name in unknown.stderr
    assert not missing.exists()
