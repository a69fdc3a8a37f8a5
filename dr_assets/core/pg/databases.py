"""Databases and their tables as the engine sees them: whether one exists, creating and
dropping the ones it restores into, and the user tables with their row counts.
"""

from __future__ import annotations

import psycopg2.extensions
from psycopg2 import sql

from dr_assets.core.names import check_database_name
from dr_assets.core.pg.conninfo import ConnInfo
from dr_assets.core.pg.sessions import connection


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
