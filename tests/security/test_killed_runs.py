"""A backup, restore or drill whose process is SIGKILLed (an OOM kill, an evicted pod) is
marked failed by the next catalog sync, the next backup of its app or the alert sensor,
with its partial upload and file removed; a live one is never touched however old it
looks. Each run here is a real `drctl` subprocess running this tree's code, killed with
SIGKILL while it waits on a lock the test holds."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
import psycopg2
import pytest

from dr_assets.core.backup.take import run_backup
from dr_assets.core.catalog.connection import lock_key
from dr_assets.core.copies.sync import sync_catalog
from dr_assets.core.runtime import DRRuntime
from dr_assets.defs.resources import DRResource
from dr_assets.defs.sensors import alert_sensor
from tests.support.env import BUCKET, DREnv, verified_backups
from tests.support.faults import fill
from tests.support.pg import PG_URL, REPO, run_sql

WAIT = 60.0  # seconds a spawned drctl gets to reach the lock the test holds


def spawn(env: DREnv, *args: str) -> subprocess.Popen[bytes]:
    """`drctl` on this tree's code (PYTHONPATH), as a process of its own to kill."""
    exe = Path(os.environ.get("VIRTUAL_ENV", REPO / ".venv")) / "bin" / "drctl"
    return subprocess.Popen([str(exe), "--config", str(env.config_path), *args],
                            env={**os.environ, "PYTHONPATH": str(REPO)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait_for(what: str, ready: Callable[[], bool], proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + WAIT
    while not ready():
        if proc.poll() is not None:
            raise AssertionError(f"drctl ended ({proc.returncode}) before {what}: "
                                 f"{proc.stderr.read().decode() if proc.stderr else ''}")
        if time.monotonic() > deadline:
            raise AssertionError(f"drctl never reached: {what}")
        time.sleep(0.05)


def kill(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(10) == -signal.SIGKILL


@contextmanager
def held(db: str, statement: str) -> Iterator[None]:
    """A session of the test holding what `statement` takes, until the block ends."""
    conn = psycopg2.connect(f"{PG_URL}/{db}")
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
        yield
    finally:
        conn.close()


def waiting(db: str, lock: str) -> bool:
    """Whether a session on `db` waits on a lock of that kind ('relation', 'advisory')."""
    return bool(run_sql("postgres", "SELECT 1 FROM pg_stat_activity WHERE wait_event_type ="
                                    f" 'Lock' AND wait_event = '{lock}' AND datname = '{db}'"))


def rows(env: DREnv, table: str) -> list[tuple[Any, ...]]:
    return run_sql(env.catalog_db, f"SELECT status, error FROM dr.{table} ORDER BY started_at")


def uploads(env: DREnv) -> list[str]:
    s3: Any = env.s3.client()
    listed = s3.list_multipart_uploads(Bucket=BUCKET, Prefix=f"{env.s3_prefix}/")
    return [u["Key"] for u in listed.get("Uploads", [])]


def partial_files(env: DREnv) -> list[Path]:
    return [p for p in env.local_dir.rglob("*") if ".partial-" in p.name]


def sensor(env: DREnv) -> None:
    alert_sensor(dg.build_sensor_context(
        instance=dg.DagsterInstance.ephemeral(),
        resources={"dr": DRResource(config_path=str(env.config_path))}))


def settle(env: DREnv, rt: DRRuntime, by: str) -> None:
    """What settles dead runs: the next sync, the next backup of the app, the sensor."""
    if by == "sync":
        sync_catalog(rt.stores, rt.catalog, instances_dir=rt.config.drills.instances_dir,
                     config=rt.config)
    elif by == "next backup":
        env.config_path.write_text(env.config_path.read_text().replace(SLOW_CHECK, ""))
        rt = env.runtime()
        run_backup(rt.config, "shop", keyring=rt.keyring, stores=rt.stores, catalog=rt.catalog)
    else:
        sensor(env)


@pytest.fixture
def big_shop(dr_env: DREnv) -> DREnv:
    """shop with ~10 MB stored (two S3 parts of 5 MB) and a check compared with the backup
    that sleeps for a minute in the dump's snapshot (a check may not take locks): a backup
    sits after its dump, its first part uploaded and its upload not completed."""
    fill(dr_env.apps["shop"], 120_000)
    with dr_env.config_path.open("a") as fh:
        fh.write(SLOW_CHECK)
    return dr_env


SLOW_CHECK = ('[[apps.shop.validation]]\nname = "slow"\nsql = "SELECT pg_sleep(60)::text"\n'
              'compare = "backup"\ntimeout_seconds = 90\n')


@pytest.mark.parametrize("by", ["sync", "next backup", "sensor"])
def test_a_killed_backup_is_failed_and_its_upload_and_partial_file_removed(
        big_shop: DREnv, by: str) -> None:
    env = big_shop
    rt = env.runtime()
    proc = spawn(env, "backup", "shop")
    wait_for("its first part uploaded", lambda: bool(uploads(env) and partial_files(env)), proc)
    time.sleep(0.5)  # the dump's end: the process waits on its slow check
    kill(proc)
    assert rows(env, "backups") == [("running", None)]  # what it says until settled
    left = uploads(env)
    assert len(left) == 1 and partial_files(env)
    settle(env, rt, by)
    dead = rows(env, "backups")[0]
    assert dead[0] == "failed" and "process ended" in dead[1], dead
    assert "2 partial upload(s) removed" in dead[1]  # the S3 upload and the local file
    assert left[0] not in uploads(env)
    assert uploads(env) == [] and partial_files(env) == []
    if by == "next backup":
        assert rows(env, "backups")[1][0] == "completed"


@contextmanager
def blocked_backup(env: DREnv) -> Iterator[subprocess.Popen[bytes]]:
    """`drctl backup shop` with its pg_dump waiting on a table lock the test holds (its
    partial local file open), until the block ends."""
    db = env.apps["shop"]
    with held(db, "BEGIN; LOCK TABLE orders IN ACCESS EXCLUSIVE MODE"):
        proc = spawn(env, "backup", "shop")
        wait_for("pg_dump waiting on the table lock", lambda: bool(
            partial_files(env) and waiting(db, "relation")), proc)
        yield proc


def test_a_backup_killed_while_pg_dump_waits_on_a_lock_is_failed(dr_env: DREnv) -> None:
    rt = dr_env.runtime()
    with blocked_backup(dr_env) as proc:
        kill(proc)
        sync_catalog(rt.stores, rt.catalog, config=rt.config)
        [dead] = rows(dr_env, "backups")
    assert dead[0] == "failed" and "process ended" in dead[1], dead
    assert partial_files(dr_env) == []


def test_a_live_backup_running_for_hours_is_left_alone(dr_env: DREnv) -> None:
    rt = dr_env.runtime()
    with blocked_backup(dr_env) as proc:
        # As if it ran for 7 hours, its partial file untouched for 2.
        run_sql(dr_env.catalog_db, "UPDATE dr.backups SET started_at = now() - interval '7 h'")
        [partial] = partial_files(dr_env)
        os.utime(partial, (time.time() - 7200, time.time() - 7200))
        sync_catalog(rt.stores, rt.catalog, config=rt.config)
        sensor(dr_env)
        assert rows(dr_env, "backups") == [("running", None)]
        assert partial.exists()
    assert proc.wait(WAIT) == 0
    [(status, error)] = rows(dr_env, "backups")
    assert (status, error) == ("completed", None)


@pytest.mark.parametrize("run", ["restore", "drill"])
def test_a_killed_restore_or_drill_is_failed(dr_env: DREnv, run: str) -> None:
    env = dr_env
    with env.config_path.open("a") as fh:
        fh.write('drill_target = "same_server"\n')
    rt = env.runtime()
    [m] = verified_backups(rt, "shop")
    # The backup's lease held exclusively (as retention's delete does): the run waits on it.
    lease = f"SELECT pg_advisory_lock({lock_key(f'lease:{m.backup_id}')})"
    with held(env.catalog_db, lease):
        proc = (spawn(env, "restore", m.backup_id, "--target-db", f"{env.apps['shop']}_r")
                if run == "restore" else spawn(env, "drill", "shop"))
        wait_for("the backup's lease", lambda: waiting(env.catalog_db, "advisory"),
                 proc)
        kill(proc)
        assert rows(env, "restores") == [("running", None)]
        settle(env, rt, "sensor" if run == "drill" else "sync")
    [(status, error)] = rows(env, "restores")
    assert status == "failed" and "process ended" in error, error
    if run == "drill":
        [(status, error)] = rows(env, "drills")
        assert status == "failed" and "process ended" in error, error

