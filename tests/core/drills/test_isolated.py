"""Drills on an empty server: the restore lands on a throwaway PostgreSQL server of the
backup's major version, never on the app's own, and nothing of it is left behind, also
when the drill is killed with SIGKILL (the next sync or drill removes the orphan);
same_server drills restore beside the app's database as they always did."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import psycopg2

from dr_assets.core.drills.drill import run_drill
from dr_assets.core.pg.conninfo import ConnInfo
from dr_assets.core.pg.instance import MARKER, PREFIX
from dr_assets.core.pg.sessions import server_major
from dr_assets.core.policy import DrillTarget
from tests.support.env import DREnv, verified_backups
from tests.support.pg import PG_URL, REPO, listening, load_fidelity, postmasters_of, run_sql
from tests.support.server_objects import OwnedApp

MAJOR = server_major(ConnInfo.parse(PG_URL))


def configure(env: DREnv, instances: Path, app_keys: str = "", drills: str = "") -> DREnv:
    """env's dr.toml with `app_keys` added to every app and a [drills] section whose
    instances_dir is `instances` (plus `drills`)."""
    text = env.config_path.read_text()
    for app in env.apps:
        text = text.replace(f"[apps.{app}]\n", f"[apps.{app}]\n{app_keys}\n")
    text += f'[drills]\ninstances_dir = "{instances}"\n{drills}\n'
    env.config_path.write_text(text)
    return env


def databases_like(prefix: str, port: int | None = None) -> set[str]:
    """Databases named prefix* on the local server, or on the throwaway one at `port`."""
    query = f"SELECT datname FROM pg_database WHERE datname LIKE '{prefix}%'"
    if port is None:
        return {str(r[0]) for r in run_sql("postgres", query)}
    conn = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres")
    try:
        with conn.cursor() as cur:
            cur.execute(query)
            return {str(r[0]) for r in cur.fetchall()}
    finally:
        conn.close()


def started_instances(instances: Path) -> dict[Path, int]:
    """Throwaway servers under `instances` that have started, with their ports."""
    out = {}
    for root in instances.glob(f"{PREFIX}*"):
        try:
            marker = json.loads((root / MARKER).read_text())
        except (OSError, ValueError):
            continue
        if "port" in marker:
            out[root] = int(marker["port"])
    return out


@contextmanager
def watching(instances: Path, prefix: str) -> Iterator[dict[str, set[str]]]:
    """Records, while the block runs, the databases named prefix* seen on the local server
    ("local") and on any throwaway server under `instances` ("instance"), and the
    servers' directories ("roots")."""
    seen: dict[str, set[str]] = {"local": set(), "instance": set(), "roots": set()}
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            seen["local"] |= databases_like(prefix)
            for root, port in started_instances(instances).items():
                seen["roots"].add(str(root))
                with suppress(psycopg2.OperationalError):  # starting up or stopping
                    seen["instance"] |= databases_like(prefix, port)
            time.sleep(0.02)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        done.set()
        thread.join(10)


def assert_gone(root: Path, port: int) -> None:
    assert not root.exists(), f"{root} is left behind"
    assert postmasters_of(root) == []
    assert not listening(port)


def test_isolated_drill_restores_on_an_empty_server_and_leaves_nothing(
    dr_env: DREnv, make_db: Callable[[str], str], instances_dir: Path
) -> None:
    source = make_db("isofid")
    load_fidelity(source)
    env = configure(dr_env.with_apps({"isofid": source}), instances_dir)
    rt = env.runtime()
    assert rt.config.app("isofid").drill_target == DrillTarget.ISOLATED  # the default
    [manifest] = verified_backups(rt, "isofid")
    t0 = time.monotonic()
    with watching(instances_dir, "drill_isofid") as seen:
        result = run_drill(rt.config.app("isofid"), stores=rt.stores, keyring=rt.keyring,
                           catalog=rt.catalog, settings=rt.config.drills)
    wall = time.monotonic() - t0
    assert result.passed, result.error
    assert result.rto_met and result.scratch_dropped
    assert result.rows == sum(manifest.row_counts.values())
    assert result.tables == len(manifest.row_counts)
    # The scratch database was on the throwaway server, never on the app's.
    assert seen["instance"] == {result.scratch_database}
    assert seen["local"] == set()
    assert databases_like("drill_isofid") == set()
    # The restore is timed without the server's start-up, which is reported beside it.
    assert result.target == DrillTarget.ISOLATED
    assert result.instance_start_seconds is not None and result.instance_start_seconds > 0
    assert result.restore_seconds is not None
    assert result.instance_start_seconds + result.restore_seconds < wall
    [row] = rt.catalog.list_drills(app="isofid")
    assert (row.status, row.target, row.scratch_dropped) == ("passed", "isolated", True)
    assert row.instance_start_seconds == result.instance_start_seconds
    assert (row.server_version or "").startswith(f"{MAJOR}.")
    assert row.server_version == result.server_version
    # Nothing of the server is left: no directory, process or listening port.
    [root] = [Path(r) for r in seen["roots"]]
    assert list(instances_dir.iterdir()) == []
    assert postmasters_of(root) == []
    out = env.drctl("drill", "isofid").stdout
    assert re.match(rf"drill of isofid \(isolated \(empty PostgreSQL {MAJOR} server\), started "
                    r"in \d+\.\d s\): restored isofid-\S+ in \d+\.\d s, within the RTO of 4 h; "
                    r"\d+ tables, \d+ rows validated; the server and scratch drill_isofid_\S+ "
                    r"removed$", out.strip()), out


def test_same_server_drill_restores_beside_the_app_as_before(
    dr_env: DREnv, instances_dir: Path
) -> None:
    env = configure(dr_env, instances_dir, 'drill_target = "same_server"')
    rt = env.runtime()
    verified_backups(rt, "shop")
    with watching(instances_dir, "drill_shop") as seen:
        result = run_drill(rt.config.app("shop"), stores=rt.stores, keyring=rt.keyring,
                           catalog=rt.catalog, settings=rt.config.drills)
    assert result.passed and result.scratch_dropped, result.error
    assert seen["local"] == {result.scratch_database}
    assert seen["roots"] == set() and list(instances_dir.iterdir()) == []
    assert databases_like(result.scratch_database) == set()
    [row] = rt.catalog.list_drills(app="shop")
    assert (row.target, row.instance_start_seconds, row.server_version) == (
        "same_server", None, None)
    out = env.drctl("drill", "shop").stdout
    assert out.startswith("drill of shop (same server): restored ")


def test_missing_server_binaries_fail_the_drill_naming_them(
    dr_env: DREnv, instances_dir: Path, tmp_path: Path
) -> None:
    env = configure(dr_env, instances_dir, drills=f'server_bindir = "{tmp_path}/pg-{{major}}/bin"')
    rt = env.runtime()
    verified_backups(rt, "shop")
    proc = env.drctl("drill", "shop", check=False)
    assert proc.returncode == 1
    assert proc.stdout.startswith("drill of shop (isolated (empty server)) FAILED: ")
    for needle in (f"no PostgreSQL {MAJOR} server binaries (initdb, pg_ctl) in "
                   f"{tmp_path}/pg-{MAJOR}/bin", "[drills] server_bindir"):
        assert needle in proc.stdout, proc.stdout
    # It does not fall back to the app's own server.
    assert databases_like("drill_shop") == set()
    [row] = rt.catalog.list_drills(app="shop")
    assert (row.status, row.target, row.scratch_dropped) == ("failed", "isolated", True)
    assert f"server binaries (initdb, pg_ctl) in {tmp_path}/pg-{MAJOR}/bin" in (row.error or "")
    assert list(instances_dir.iterdir()) == []


def _drill_killed_mid_restore(env: DREnv, instances: Path) -> tuple[Path, int]:
    """Starts `drctl drill shop`, SIGKILLs it (only it) once pg_restore is loading into
    its throwaway server, and returns that server's directory and port."""
    drctl = Path(os.environ.get("VIRTUAL_ENV", REPO / ".venv")) / "bin" / "drctl"
    proc = subprocess.Popen([str(drctl), "--config", str(env.config_path), "drill", "shop"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            for root, port in started_instances(instances).items():
                loading = subprocess.run(["pgrep", "-f", f"pg_restore .*-p {port} "],
                                         capture_output=True, text=True).stdout.split()
                if loading:
                    proc.send_signal(signal.SIGKILL)
                    proc.wait(10)
                    return root, port
            time.sleep(0.01)
        raise AssertionError(f"never saw pg_restore loading: {proc.stderr.read() if proc.stderr else ''}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_a_drill_killed_mid_restore_leaves_an_orphan_the_next_sync_or_drill_removes(
    dr_env: DREnv, instances_dir: Path
) -> None:
    # Enough rows that pg_restore is still loading when the drill is killed.
    run_sql(dr_env.apps["shop"], "CREATE TABLE bulk AS SELECT g AS id, md5(g::text) AS v "
                                 "FROM generate_series(1, 400000) g; "
                                 "ALTER TABLE bulk ADD PRIMARY KEY (id)")
    env = configure(dr_env, instances_dir)
    rt = env.runtime()
    verified_backups(rt, "shop")

    root, port = _drill_killed_mid_restore(env, instances_dir)
    # SIGKILL ran no cleanup: the server runs on, orphaned.
    assert root.exists() and listening(port) and postmasters_of(root)
    sync = json.loads(env.drctl("catalog", "sync", "--json").stdout)
    assert sync["instances_removed"] == [str(root)]
    assert_gone(root, port)

    root, port = _drill_killed_mid_restore(env, instances_dir)
    assert root.exists() and listening(port)
    drill = json.loads(env.drctl("drill", "shop", "--json").stdout)
    assert drill["passed"] and drill["target"] == "isolated", drill
    assert_gone(root, port)
    assert list(instances_dir.iterdir()) == []
    assert databases_like("drill_shop") == set()
    # The killed drills' rows were failed (by the sync, by the next drill); the last passed.
    statuses = [d.status for d in rt.catalog.list_drills(app="shop")]
    assert statuses == ["passed", "failed", "failed"]


def test_isolated_drill_of_a_database_owned_by_app_roles_passes(
    dr_env: DREnv, instances_dir: Path
) -> None:
    """The gap this drill exists for: a database owned by an application role, with a
    read-only role, grants, policies and default privileges, on an empty server. Before
    roles travelled with backups, pg_restore failed there with 'role ... does not exist'."""
    owned = OwnedApp.create()
    try:
        env = configure(dr_env.with_apps({"owned": owned.db}), instances_dir)
        rt = env.runtime()
        [manifest] = verified_backups(rt, "owned")
        assert manifest.server_objects is not None
        result = run_drill(rt.config.app("owned"), stores=rt.stores, keyring=rt.keyring,
                           catalog=rt.catalog, settings=rt.config.drills)
        assert result.passed, result.error
        assert result.target == DrillTarget.ISOLATED and result.scratch_dropped
        assert result.rows == sum(manifest.row_counts.values())
        assert list(instances_dir.iterdir()) == []
        # The roles were made on the throwaway server only: the local server still has just
        # the ones the test created, and no scratch database.
        tag = owned.app.removesuffix("_app")
        assert {str(r[0]) for r in run_sql("postgres", "SELECT rolname FROM pg_roles WHERE "
                                                       f"rolname LIKE '{tag}%'")} == set(owned.roles)
        assert databases_like("drill_owned") == set()
    finally:
        owned.drop()
