"""drctl over recovery to a moment: `restore APP --to-time` into a new database on the
app's server (rows as of the moment, recorded in the catalog as POINT_IN_TIME), `window`,
`restore-server` leaving a data directory that starts as a server, and bad input refused
with nothing made."""

from __future__ import annotations

import json
from pathlib import Path

from dr_assets.core.format.manifest import iso
from dr_assets.core.pg.command import run
from dr_assets.core.pg.instance import as_user, free_port, server_bindir, server_user
from tests.support.pitr import PitrEnv
from tests.support.recovery import (
    base_backup,
    rows_around_a_pause,
    streaming,
    switch_wal,
    ticks_on,
    until_held,
)


def test_restore_an_app_as_of_a_moment_and_a_server_into_a_data_dir(
        pitr_env: PitrEnv, instances_dir: Path) -> None:
    env = pitr_env
    rt = env.env.runtime()
    config = env.config_path
    config.write_text(config.read_text() + f'[drills]\ninstances_dir = "{instances_dir}"\n')
    before = set(instances_dir.iterdir())
    with streaming(env):
        base = base_backup(env)
        pause = rows_around_a_pause(env)
        until_held(rt, {switch_wal(env)})

    window = json.loads(env.env.drctl("window", "shop", "--json").stdout)
    assert window["server"] == "main" and window["base_backups"][0]["backup_id"] == base.backup_id
    assert window["earliest"] <= iso(pause.moment) <= window["latest"]

    moment = iso(pause.moment)
    out = env.env.drctl("restore", "shop", "--to-time", moment, "--target-db", "shop_then",
                        "--json")
    doc = json.loads(out.stdout)
    assert doc["mode"] == "POINT_IN_TIME" and doc["recovery"]["base_backup_id"] == base.backup_id
    got = env.sql("SELECT note, count(*), max(at) FROM ticks GROUP BY 1", "shop_then")
    assert [(r[0], r[1]) for r in got] == [("before", pause.before)]
    assert all(r[2] <= pause.moment for r in got)  # type: ignore[operator]
    restores = [r for r in rt.catalog.list_restores() if r.target_database == "shop_then"]
    assert restores[0].mode == "POINT_IN_TIME" and restores[0].status == "succeeded"
    assert restores[0].backup_id == base.backup_id

    again = env.env.drctl("restore", "shop", "--to-time", moment, "--target-db", "shop_then",
                          check=False)
    assert again.returncode == 1 and "already exists" in again.stderr
    naive = env.env.drctl("restore", "shop", "--to-time", "2026-11-20T06:00:00",
                          "--target-db", "shop_x", check=False)
    assert naive.returncode == 1 and "add Z" in naive.stderr
    both = env.env.drctl("restore", "shop", "--to-latest", "--as-of", moment, "--target-db",
                         "shop_x", check=False)
    assert both.returncode == 1 and "--as-of" in both.stderr
    assert not env.sql("SELECT 1 FROM pg_database WHERE datname = 'shop_x'", "postgres")

    data = instances_dir / "recovered"
    out = env.env.drctl("restore-server", "main", "--to-time", moment, "--data-dir", str(data),
                        "--json")
    assert json.loads(out.stdout)["data_dir"] == str(data)
    assert not (data / "recovery.signal").exists()
    assert set(instances_dir.iterdir()) == before | {data}
    bindir = server_bindir(15)
    user = server_user(bindir)
    port = free_port()
    # The protected server was made with trust authentication: its pg_hba.conf came along.
    run(as_user(user, [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(data / "run.log"),
                       "-o", f"-p {port} -k {data} -c listen_addresses=127.0.0.1", "-w",
                       "start"]))
    try:
        assert [n for _, _, n in ticks_on(port)] == ["before"] * pause.before
    finally:
        run(as_user(user, [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]))
    refused = env.env.drctl("restore-server", "main", "--to-latest", "--data-dir", str(data),
                            check=False)
    assert refused.returncode == 1 and "not an empty directory" in refused.stderr

