"""The PostgreSQL server the benchmarks build their databases on (both benches use it)."""

from __future__ import annotations

from typing import Any

import psycopg2
from psycopg2 import sql

from dr_assets.core.pg.conninfo import ConnInfo


class Server:
    def __init__(self, url: str) -> None:
        self.info = ConnInfo.parse(url)

    def url(self, db: str) -> str:
        return self.info.with_db(db).safe_url

    def connect(self, db: str = "postgres") -> Any:
        conn = psycopg2.connect(**self.info.with_db(db).connect_kwargs())
        conn.autocommit = True
        return conn

    def scalar(self, query: str | sql.Composable, params: tuple[Any, ...] = (),
               db: str = "postgres") -> Any:
        conn = self.connect(db)
        try:
            with conn.cursor() as cur:
                cur.execute(query, params)
                row = cur.fetchone() if cur.description else None
                return row[0] if row else None
        finally:
            conn.close()

    def exists(self, db: str) -> bool:
        return bool(self.scalar("SELECT 1 FROM pg_database WHERE datname = %s", (db,)))

    def create(self, db: str) -> None:
        self.scalar(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db)))

    def drop(self, db: str) -> None:
        self.scalar(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db)))

    def major(self) -> int:
        conn = self.connect()
        try:
            return int(conn.server_version) // 10000
        finally:
            conn.close()

    def db_size(self, db: str) -> int:
        return int(self.scalar("SELECT pg_database_size(%s)", (db,)))
