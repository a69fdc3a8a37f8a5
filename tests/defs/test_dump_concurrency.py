"""The per-server dump limit holds with real runs: five apps on one PostgreSQL server whose
dr.toml allows three dumps at once, five backups launched through the Dagster webserver, the
daemon's run queue starting them. Each app's table is locked, so every started pg_dump waits
in pg_stat_activity where the test counts it: never more than three, the other runs QUEUED,
and once the locks go every backup completes."""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import psycopg2
import pytest

from dr_assets.core.policy import load_config
from dr_assets.core.runs import backup_launch, backup_partition
from dr_assets.core.scheduling.sources import dump_limits
from dr_assets.defs.pools import sync_pool_limits
from dr_assets.devstack import seaweed
from dr_assets.launcher import DagsterLauncher
from tests.support.env import write_config
from tests.support.pg import PG_URL, admin_exec, drop_db, run_sql
from tests.support.stack import _stop_processes, free_port, start_dagster

APPS = 5
LIMIT = 3
POOL = "dr-dumps/127.0.0.1:5432"


def dumps_running(databases: list[str]) -> int:
    with psycopg2.connect(f"{PG_URL}/postgres") as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pg_dump' "
                    "AND datname = ANY(%s)", (databases,))
        row = cur.fetchone()
        return int(row[0]) if row else 0


@pytest.fixture
def dagster_db() -> Iterator[str]:
    name = f"drt_dagster_{secrets.token_hex(3)}"
    admin_exec(f'CREATE DATABASE "{name}"')
    yield name
    drop_db(name)


def test_never_more_dumps_at_once_than_the_servers_limit(
        tmp_path: Path, s3_server: seaweed.SeaweedServer, make_db: Callable[[str], str],
        catalog_db: str, dagster_db: str) -> None:
    databases = [make_db("conc") for _ in range(APPS)]
    for db in databases:
        run_sql(db, "CREATE TABLE t AS SELECT g AS id, md5(g::text) AS v "
                    "FROM generate_series(1, 2000) g")
    apps = {f"app{i}": db for i, db in enumerate(databases)}
    config_path = write_config(tmp_path, s3_server, f"c{secrets.token_hex(3)}", catalog_db, apps)
    with config_path.open("a") as fh:
        fh.write(f"[concurrency]\nmax_concurrent_dumps = {LIMIT}\n")
    config = load_config(config_path)
    assert dump_limits(config) == {POOL: LIMIT}
    from dr_assets.core.runtime import DRRuntime
    DRRuntime.load(str(config_path)).catalog.list_backups()  # the schema, before the runs race

    port = free_port()
    procs = start_dagster(tmp_path, config_path, dagster_db, port)
    locks = []
    try:
        os.environ["DAGSTER_HOME"] = str(tmp_path / "dagster_home")
        with dg.DagsterInstance.get() as instance:
            # The daemon's alert sensor may have set it already; then there is nothing to do.
            assert sync_pool_limits(instance, config) in ({POOL: LIMIT}, {})
            assert sync_pool_limits(instance, config) == {}
            limits = {p.name: p.limit for p in instance.event_log_storage.get_pool_limits()}
            assert limits[POOL] == LIMIT
        for db in databases:
            conn = psycopg2.connect(f"{PG_URL}/{db}")
            conn.cursor().execute("LOCK TABLE t IN ACCESS EXCLUSIVE MODE")  # in a transaction
            locks.append(conn)
        launcher = DagsterLauncher(f"http://127.0.0.1:{port}")
        now = datetime.now(UTC)
        run_ids = [launcher.launch(backup_launch(p, backup_partition(p, now)))
                   for p in config.apps.values()]

        seen: list[int] = []
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and (not seen or seen[-1] < LIMIT):
            seen.append(dumps_running(databases))
            time.sleep(0.2)
        assert seen and seen[-1] == LIMIT, f"the dumps never reached the limit: {seen[-20:]}"
        hold = time.monotonic() + 6  # the queue had time to start more, if it would
        while time.monotonic() < hold:
            seen.append(dumps_running(databases))
            time.sleep(0.2)
        statuses = [launcher.run_status(r) for r in run_ids]
        assert statuses.count("QUEUED") == APPS - LIMIT, statuses

        for conn in locks:
            conn.rollback()
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            seen.append(dumps_running(databases))
            statuses = [launcher.run_status(r) for r in run_ids]
            if all(s in ("SUCCESS", "FAILURE", "CANCELED") for s in statuses):
                break
            time.sleep(0.2)
        assert statuses == ["SUCCESS"] * APPS, statuses
        assert max(seen) == LIMIT, seen
    finally:
        for conn in locks:
            conn.close()
        os.environ.pop("DAGSTER_HOME", None)
        _stop_processes(procs)
