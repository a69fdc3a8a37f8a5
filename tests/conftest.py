"""Session fixtures for real services: a SeaweedFS S3 server, throwaway PostgreSQL
databases on the local server, and a DR environment (dr.toml, key, catalog) per test."""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import pytest
from psycopg2 import sql

from dr_assets.core.keys import generate_key_file
from dr_assets.core.runtime import DRRuntime
from dr_assets.devstack import seaweed

PG_URL = os.environ.get("DR_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432")
REPO = Path(__file__).resolve().parent.parent
PAGILA_SCHEMA = REPO.parent / "shared" / "fixtures" / "pagila" / "pagila-schema.sql"
PAGILA_ROWS = Path(__file__).resolve().parent / "fixtures" / "pagila_rows.sql"
BUCKET = "dr-backups"


def pg_admin() -> psycopg2.extensions.connection:
    conn = psycopg2.connect(f"{PG_URL}/postgres")
    conn.autocommit = True
    return conn


def admin_exec(statement: sql.Composable | str) -> None:
    conn = pg_admin()
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
    finally:
        conn.close()


def drop_db(name: str) -> None:
    admin_exec(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def db_exists(name: str) -> bool:
    conn = pg_admin()
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        found = cur.fetchone() is not None
    conn.close()
    return found


def psql(db: str, *args: str) -> str:
    return subprocess.run(
        ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", f"{PG_URL}/{db}", *args],
        check=True, capture_output=True, text=True,
    ).stdout


def run_sql(db: str, statement: str) -> list[tuple[object, ...]]:
    conn = psycopg2.connect(f"{PG_URL}/{db}")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(statement)
        rows = cur.fetchall() if cur.description else []
    conn.close()
    return rows


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
def catalog_db() -> Iterator[str]:
    """A catalog of the test's own (created by the first Catalog that touches it)."""
    name = f"drt_catalog_{secrets.token_hex(4)}"
    yield name
    drop_db(name)


@dataclass
class DREnv:
    """One test's DR setup: its dr.toml, key, local dir and its own S3 prefix."""

    root: Path
    config_path: Path
    s3: seaweed.SeaweedServer
    s3_prefix: str
    apps: dict[str, str]
    catalog_db: str

    def with_apps(self, apps: dict[str, str]) -> DREnv:
        """The same stores, key and catalog, configured for other apps."""
        path = write_config(self.root, self.s3, self.s3_prefix, self.catalog_db, apps)
        return DREnv(self.root, path, self.s3, self.s3_prefix, apps, self.catalog_db)

    def runtime(self) -> DRRuntime:
        return DRRuntime.load(str(self.config_path))

    def drctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        exe = Path(os.environ.get("VIRTUAL_ENV", REPO / ".venv")) / "bin" / "drctl"
        proc = subprocess.run([str(exe), "--config", str(self.config_path), *args],
                              capture_output=True, text=True, timeout=600)
        if check and proc.returncode != 0:
            raise AssertionError(f"drctl {' '.join(args)} failed: {proc.stderr}")
        return proc

    @property
    def local_dir(self) -> Path:
        return self.root / "local-backups"


def write_config(root: Path, s3: seaweed.SeaweedServer, prefix: str, catalog: str,
                 apps: dict[str, str], extra_s3: str = "", local_path: str | None = None,
                 s3_endpoint: str | None = None) -> Path:
    lines = [
        "[catalog]",
        f'database_url = "{PG_URL}/{catalog}"',
        "[encryption]",
        'key_file = "keys/master.key"',
        "[[destinations]]",
        'name = "s3"', 'kind = "s3"', f'bucket = "{BUCKET}"', f'prefix = "{prefix}"',
        f'endpoint_url = "{s3_endpoint or s3.endpoint}"',
        f'access_key_id = "{s3.access_key}"', f'secret_access_key = "{s3.secret_key}"',
        'part_size_mb = 5',
        extra_s3,
        "[[destinations]]",
        'name = "local"', 'kind = "local"', f'path = "{local_path or "local-backups"}"',
    ]
    for app, db in apps.items():
        lines += [
            f"[apps.{app}]",
            f'database_url = "{PG_URL}/{db}"',
            "rto_hours = 4", "rpo_hours = 24", "every_hours = 6", "retention_days = 90",
            "critical = true",
        ]
    path = root / "dr.toml"
    path.write_text("\n".join(lines) + "\n")
    if not (root / "keys" / "master.key").exists():
        generate_key_file(root / "keys" / "master.key")
    return path


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


def load_pagila(db: str) -> None:
    psql(db, "-f", str(PAGILA_SCHEMA))
    psql(db, "-f", str(PAGILA_ROWS))


def schema_of(db: str) -> str:
    """pg_dump --schema-only without the header lines that name the database or version."""
    out = subprocess.run(
        ["pg_dump", "--schema-only", "--no-comments", "-d", f"{PG_URL}/{db}"],
        check=True, capture_output=True, text=True,
    ).stdout
    return "\n".join(line for line in out.splitlines()
                     if not line.startswith(("-- Dumped", "\\restrict", "\\unrestrict")))


def table_checksums(db: str) -> dict[str, tuple[int, str]]:
    """Row count and an order-independent checksum of every user table's rows."""
    tables = run_sql(db, """
        SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
          AND n.nspname NOT LIKE 'pg_toast%' ORDER BY 1, 2""")
    out: dict[str, tuple[int, str]] = {}
    for schema, table in tables:
        q = sql.SQL(
            "SELECT count(*), coalesce(md5(string_agg(md5(t::text), '' ORDER BY md5(t::text))), '')"
            " FROM ONLY {}.{} t"
        ).format(sql.Identifier(str(schema)), sql.Identifier(str(table)))
        conn = psycopg2.connect(f"{PG_URL}/{db}")
        with conn.cursor() as cur:
            cur.execute(q)
            row = cur.fetchone()
        conn.close()
        assert row is not None
        out[f"{schema}.{table}"] = (int(row[0]), str(row[1]))
    return out


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, s3_server: seaweed.SeaweedServer
          ) -> Iterator[object]:
    """Dagster webserver + daemon and the API over real HTTP, started once per session."""
    from tests.stack import start_stack, stop_stack

    started = start_stack(tmp_path_factory.mktemp("stack"), s3_server)
    yield started
    stop_stack(started)


@pytest.fixture
def own_s3(tmp_path: Path) -> Iterator[object]:
    """A SeaweedFS of the test's own, to stop and restart."""
    from tests.faults import OwnS3

    s3 = OwnS3(tmp_path / "own-s3")
    yield s3
    s3.stop()


@pytest.fixture(scope="session")
def browser() -> object:
    """Headless Chromium; fails (never skips silently) when it is missing, unless
    DR_SKIP_BROWSER=1."""
    from tests.browser import find_chromium

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
    from tests.stack import Stack, free_port, start_api

    assert isinstance(stack, Stack)
    config = stack.config_copy(tmp_path, dagster_url=f"http://127.0.0.1:{free_port()}")
    server = start_api(config)
    yield server.url
    server.stop()


@pytest.fixture
def page_server() -> Iterator[Callable[[str], str]]:
    """Serves a given HTML page over real HTTP on a free port; returns its URL."""
    from tests.browser import StaticPage

    pages: list[StaticPage] = []

    def serve(html: str) -> str:
        pages.append(StaticPage(html))
        return pages[-1].url

    yield serve
    for page in pages:
        page.close()
