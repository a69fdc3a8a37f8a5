"""psycopg2 sessions on a server named by a ConnInfo, with a connection failure as a
sentence instead of libpq's multi-line text; the server's version.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg2
import psycopg2.extensions

from dr_assets.core.errors import ToolError
from dr_assets.core.pg.conninfo import ConnInfo


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


def server_version(info: ConnInfo) -> str:
    """The version the server reports, as backups record it (e.g. "15.6 (Debian ...)")."""
    with connection(info) as conn, conn.cursor() as cur:
        cur.execute("SELECT current_setting('server_version')")
        row = cur.fetchone()
        return str(row[0]) if row else ""
