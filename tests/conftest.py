"""Session fixtures for real services: a SeaweedFS S3 server, throwaway PostgreSQL
databases on the local server, and a DR environment (dr.toml, key, catalog) per test."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from psycopg2 import sql

from dr_assets.devstack import seaweed
from tests.support.env import BUCKET, DREnv, write_config
from tests.support.pg import admin_exec, drop_db, run_sql


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[seaweed.SeaweedServer]:
    """One real SeaweedFS (`weed mini`) for the session, own dir and ports, stopped by PID."""
    server = seaweed.start(tmp_path_factory.mktemp("seaweed"), buckets=(BUCKET,))
    yield server
    seaweed.stop(server.pid)


@pytest.fixture
def make_db() -> Iterator[Callable[[str], str]]:
    """Creates throwaway databases (drt_<tag>_<hex>) and drops them after the test."""
    created: list[str] = []

    def make(tag: str = "db") -> str:
        name = f"drt_{tag}_{secrets.token_hex(4)}"
        admin_exec(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        created.append(name)
        return name

    yield make
    for name in created:
        drop_db(name)


@pytest.fixture
def instances_dir() -> Iterator[Path]:
    """A directory of the test's own for throwaway servers, which the server's user can
    traverse (pytest's own temporary directories are private to root)."""
    path = Path(tempfile.mkdtemp(prefix="drt-instances-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def catalog_db() -> Iterator[str]:
    """A catalog of the test's own (created by the first Catalog that touches it)."""
    name = f"drt_catalog_{secrets.token_hex(4)}"
    yield name
    drop_db(name)


@pytest.fixture
def dr_env(tmp_path: Path, s3_server: seaweed.SeaweedServer, catalog_db: str,
           make_db: Callable[[str], str]) -> DREnv:
    """A fresh environment with one app, `shop`, whose small database has two tables."""
    db = make_db("shop")
    run_sql(db, """
        CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, doc jsonb);
        CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id int REFERENCES customers,
                             total numeric(10,2), note text);
        INSERT INTO customers (name, doc)
          SELECT 'customer ' || g, jsonb_build_object('n', g, 'tags', jsonb_build_array('a', g % 5))
          FROM generate_series(1, 3000) g;
        INSERT INTO orders (customer_id, total, note)
          SELECT 1 + g % 3000, (g % 1000) / 7.0, repeat(md5(g::text), 1 + g % 4)
          FROM generate_series(1, 20000) g;
    """)
    prefix = f"t{secrets.token_hex(4)}"
    path = write_config(tmp_path, s3_server, prefix, catalog_db, {"shop": db})
    return DREnv(tmp_path, path, s3_server, prefix, {"shop": db}, catalog_db)


@pytest.fixture
def pitr_env(tmp_path: Path, s3_server: seaweed.SeaweedServer, catalog_db: str,
             instances_dir: Path) -> Iterator[object]:
    """A throwaway server under continuous protection as [servers.main], with `shop` on it."""
    from tests.support.pitr import pitr_environment

    with pitr_environment(tmp_path, s3_server, catalog_db, instances_dir) as env:
        yield env


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, s3_server: seaweed.SeaweedServer
          ) -> Iterator[object]:
    """Dagster webserver + daemon and the API over real HTTP, started once per session."""
    from tests.support.stack import start_stack, stop_stack

    started = start_stack(tmp_path_factory.mktemp("stack"), s3_server)
    yield started
    stop_stack(started)


@pytest.fixture
def own_s3(tmp_path: Path) -> Iterator[object]:
    """A SeaweedFS of the test's own, to stop and restart."""
    from tests.support.faults import OwnS3

    s3 = OwnS3(tmp_path / "own-s3")
    yield s3
    s3.stop()


@pytest.fixture(scope="session")
def browser() -> object:
    """Headless Chromium; fails (never skips silently) when it is missing, unless
    DR_SKIP_BROWSER=1."""
    from tests.support.browser import find_chromium

    return find_chromium()


@pytest.fixture(scope="session")
def screenshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where page tests leave their screenshots: $DR_SCREENSHOT_DIR, else a temp dir."""
    chosen = os.environ.get("DR_SCREENSHOT_DIR")
    if chosen:
        Path(chosen).mkdir(parents=True, exist_ok=True)
        return Path(chosen)
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture
def api_without_dagster(stack: object, tmp_path: Path) -> Iterator[str]:
    """A second API on the stack's catalog and stores whose Dagster URL answers nothing, so
    its healthCheck reports the estate degraded."""
    from tests.support.stack import Stack, free_port, start_api

    assert isinstance(stack, Stack)
    config = stack.config_copy(tmp_path, dagster_url=f"http://127.0.0.1:{free_port()}")
    server = start_api(config)
    yield server.url
    server.stop()


@pytest.fixture
def page_server() -> Iterator[Callable[[str], str]]:
    """Serves a given HTML page over real HTTP on a free port; returns its URL."""
    from tests.support.browser import StaticPage

    pages: list[StaticPage] = []

    def serve(html: str) -> str:
        pages.append(StaticPage(html))
        return pages[-1].url

    yield serve
    for page in pages:
        page.close()
