"""The local PostgreSQL server as tests see it: admin statements, throwaway databases,
the restore-fidelity fixtures and the comparisons restore tests make (schema dump,
per-table row checksums, sequence positions, large objects)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import psycopg2
import psycopg2.extensions
from psycopg2 import sql

PG_URL = os.environ.get("DR_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432")
REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"
FIDELITY_SCHEMA = FIXTURES / "fidelity_schema.sql"
FIDELITY_ROWS = FIXTURES / "fidelity_rows.sql"
# Pagila is not part of the repository: where a checkout has it beside itself, restore
# tests prove fidelity on it too, in addition to the project's own fixture.


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


def run_sql(db: str, statement: sql.Composable | str, server: str = PG_URL
            ) -> list[tuple[object, ...]]:
    """Rows of one statement in `db` (on the local server, or on `server`, a URL without
    a database)."""
    conn = psycopg2.connect(f"{server}/{db}")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(statement)
        rows = cur.fetchall() if cur.description else []
    conn.close()
    return rows


def load_fidelity(db: str) -> None:
    """The project's restore-fidelity schema and rows (tests/fixtures/fidelity_*.sql)."""
    psql(db, "-f", str(FIDELITY_SCHEMA))
    psql(db, "-f", str(FIDELITY_ROWS))


def schema_of(db: str, server: str = PG_URL) -> str:
    """pg_dump --schema-only without the header lines that name the database or version."""
    out = subprocess.run(
        ["pg_dump", "--schema-only", "-d", f"{server}/{db}"],
        check=True, capture_output=True, text=True,
    ).stdout
    return "\n".join(line for line in out.splitlines()
                     if not line.startswith(("-- Dumped", "\\restrict", "\\unrestrict")))


def table_checksums(db: str, server: str = PG_URL) -> dict[str, tuple[int, str]]:
    """Row count and an order-independent checksum of every user table's rows."""
    tables = run_sql(db, """
        SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
          AND n.nspname NOT LIKE 'pg_toast%' ORDER BY 1, 2""", server)
    out: dict[str, tuple[int, str]] = {}
    for schema, table in tables:
        q = sql.SQL(
            "SELECT count(*), coalesce(md5(string_agg(md5(t::text), '' ORDER BY md5(t::text))), '')"
            " FROM ONLY {}.{} t"
        ).format(sql.Identifier(str(schema)), sql.Identifier(str(table)))
        [(count, digest)] = run_sql(db, q, server)
        out[f"{schema}.{table}"] = (int(str(count)), str(digest))
    return out


def sequence_positions(db: str) -> dict[str, tuple[int, bool]]:
    """Where every sequence stands (last_value, is_called), identity and serial ones too."""
    names = run_sql(db, """
        SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind = 'S' ORDER BY 1, 2""")
    out: dict[str, tuple[int, bool]] = {}
    for schema, name in names:
        q = sql.SQL("SELECT last_value, is_called FROM {}.{}").format(
            sql.Identifier(str(schema)), sql.Identifier(str(name)))
        [(last_value, is_called)] = run_sql(db, q)
        out[f"{schema}.{name}"] = (int(str(last_value)), bool(is_called))
    return out


def large_objects(db: str) -> dict[int, tuple[str, str | None]]:
    """Every large object's md5 and comment, by OID (pg_dump keeps their OIDs)."""
    rows = run_sql(db, """
        SELECT oid, md5(lo_get(oid)), obj_description(oid, 'pg_largeobject')
        FROM pg_largeobject_metadata ORDER BY 1""")
    return {int(str(oid)): (str(digest), None if note is None else str(note))
            for oid, digest, note in rows}


def listening(port: int) -> bool:
    """Whether a PostgreSQL server on 127.0.0.1:port accepts connections."""
    try:
        psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres",
                         connect_timeout=2).close()
    except psycopg2.OperationalError:
        return False
    return True


def postmasters_of(root: Path) -> list[int]:
    """Processes whose command line names the data directory of the server in `root`."""
    out = subprocess.run(["pgrep", "-f", str(root / "data")], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]
