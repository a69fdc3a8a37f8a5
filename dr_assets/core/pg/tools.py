"""pg_dump, pg_restore and psycopg2 connections behind one wrapper.

Passwords travel only in the PGPASSWORD environment of the child process, never on a
command line, and ConnInfo's repr hides them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import psycopg2
import psycopg2.extensions
from psycopg2 import sql

from dr_assets.core.errors import ToolError
from dr_assets.core.names import check_database_name

_PG_LIB = Path("/usr/lib/postgresql")
_LIBPQ_ENV = {
    "sslmode": "PGSSLMODE", "sslrootcert": "PGSSLROOTCERT", "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY", "connect_timeout": "PGCONNECT_TIMEOUT",
    "application_name": "PGAPPNAME",
}


@dataclass(frozen=True)
class ConnInfo:
    host: str
    port: int
    user: str
    dbname: str
    password: str | None = field(default=None, repr=False)
    params: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, url: str) -> ConnInfo:
        parts = urlsplit(url)
        if parts.scheme not in ("postgresql", "postgres"):
            raise ToolError(f"{redact(url)} is not a postgresql:// URL")
        dbname = unquote(parts.path.lstrip("/")) or "postgres"
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 5432,
            user=unquote(parts.username) if parts.username else "postgres",
            password=unquote(parts.password) if parts.password else None,
            dbname=dbname,
            params=tuple(parse_qsl(parts.query)),
        )

    def with_db(self, dbname: str) -> ConnInfo:
        return replace(self, dbname=dbname)

    @property
    def safe_url(self) -> str:
        """The URL without its password: fit for logs, manifests and the catalog."""
        query = "&".join(f"{k}={quote(v)}" for k, v in self.params)
        url = f"postgresql://{quote(self.user)}@{self.host}:{self.port}/{quote(self.dbname)}"
        return f"{url}?{query}" if query else url

    def connect_kwargs(self) -> dict[str, Any]:
        kw: dict[str, Any] = {
            "host": self.host, "port": self.port, "user": self.user, "dbname": self.dbname,
        }
        if self.password:
            kw["password"] = self.password
        kw.update(dict(self.params))
        kw.setdefault("connect_timeout", "10")
        return kw

    def tool_args(self) -> list[str]:
        return ["-h", self.host, "-p", str(self.port), "-U", self.user]

    def tool_env(self) -> dict[str, str]:
        # Connection settings come from the URL only; a password may also come from
        # $PGPASSWORD (or ~/.pgpass) so that it never has to be written in a URL.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG") or k == "PGPASSWORD"}
        if self.password:
            env["PGPASSWORD"] = self.password
        for key, value in self.params:
            if key in _LIBPQ_ENV:
                env[_LIBPQ_ENV[key]] = value
        return env


def redact(url: str) -> str:
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def connect(info: ConnInfo, autocommit: bool = True) -> psycopg2.extensions.connection:
    try:
        conn = psycopg2.connect(**info.connect_kwargs())
    except psycopg2.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "connection failed"
        raise ToolError(f"cannot connect to {info.safe_url}: {first}") from None
    conn.autocommit = autocommit
    return conn  # type: ignore[no-any-return]


@contextmanager
def connection(info: ConnInfo, autocommit: bool = True) -> Iterator[psycopg2.extensions.connection]:
    conn = connect(info, autocommit)
    try:
        yield conn
    finally:
        conn.close()


def server_major(info: ConnInfo) -> int:
    with connection(info) as conn:
        return int(conn.server_version) // 10000


@cache
def _binary_version(path: str) -> int:
    out = subprocess.run([path, "--version"], capture_output=True, text=True, check=False).stdout
    match = re.search(r"(\d+)(?:\.\d+)?", out)
    return int(match.group(1)) if match else 0


def find_tool(tool: str, server_major_version: int) -> str:
    """The tool of the server's major version, else the closest newer one, else an error."""
    candidates: list[tuple[int, str]] = []
    if _PG_LIB.is_dir():
        for d in _PG_LIB.iterdir():
            binary = d / "bin" / tool
            if d.name.isdigit() and binary.exists():
                candidates.append((int(d.name), str(binary)))
    on_path = shutil.which(tool)
    if on_path:
        candidates.append((_binary_version(on_path), on_path))
    usable = sorted(c for c in candidates if c[0] >= server_major_version)
    if not usable:
        found = ", ".join(f"{v}" for v, _ in sorted(candidates)) or "none"
        raise ToolError(
            f"no {tool} for PostgreSQL {server_major_version} (found versions: {found}): "
            f"install postgresql-client-{server_major_version}"
        )
    return usable[0][1]


def tool_version(path: str) -> str:
    out = subprocess.run([path, "--version"], capture_output=True, text=True, check=False)
    return out.stdout.strip()


def last_lines(text: str, n: int = 3) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return " | ".join(lines[-n:]) if lines else "no error output"


def database_exists(info: ConnInfo, name: str) -> bool:
    with connection(info.with_db("postgres")) as conn, conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        return cur.fetchone() is not None


def create_database(info: ConnInfo, name: str) -> None:
    check_database_name(name)
    with connection(info.with_db("postgres")) as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(info: ConnInfo, name: str) -> None:
    """Drop a database we created, ending any session still attached to it."""
    check_database_name(name)
    with connection(info.with_db("postgres")) as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def user_tables(conn: psycopg2.extensions.connection) -> list[tuple[str, str]]:
    """Ordinary and partitioned-leaf tables outside the system schemas, sorted."""
    with conn.cursor() as cur:
        cur.execute(
            """
            SELECT n.nspname, c.relname
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind = 'r'
              AND n.nspname NOT IN ('pg_catalog', 'information_schema')
              AND n.nspname NOT LIKE 'pg_toast%%' AND n.nspname NOT LIKE 'pg_temp%%'
            ORDER BY 1, 2
            """
        )
        return [(r[0], r[1]) for r in cur.fetchall()]


def count_rows(conn: psycopg2.extensions.connection) -> dict[str, int]:
    counts: dict[str, int] = {}
    with conn.cursor() as cur:
        for schema, table in user_tables(conn):
            cur.execute(
                sql.SQL("SELECT count(*) FROM ONLY {}.{}").format(
                    sql.Identifier(schema), sql.Identifier(table)
                )
            )
            row = cur.fetchone()
            counts[f"{schema}.{table}"] = int(row[0]) if row else 0
    return counts
