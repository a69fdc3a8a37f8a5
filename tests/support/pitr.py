"""A protected server for point-in-time tests: a throwaway PostgreSQL server of the test's
own (wal_level = replica), with the app `shop`'s database on it and a dr.toml whose
[servers.main] points at it (the app opts in with server = "main")."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from dr_assets.core.pg.instance import ThrowawayInstance, throwaway_instance
from dr_assets.devstack import seaweed
from tests.support.env import DREnv, write_config
from tests.support.pg import run_sql

SHOP_SCHEMA = """
    CREATE TABLE ticks (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp(),
                        note text);
    CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL);
    INSERT INTO customers (name) SELECT 'customer ' || g FROM generate_series(1, 500) g;
"""


@dataclass
class PitrEnv:
    env: DREnv
    server: ThrowawayInstance

    @property
    def server_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.server.port}"

    def url(self, db: str = "shop") -> str:
        return f"{self.server_url}/{db}"

    def sql(self, statement: str, db: str = "shop") -> list[tuple[object, ...]]:
        return run_sql(db, statement, server=self.server_url)

    @property
    def config_path(self) -> Path:
        return self.env.config_path


def write_pitr_config(root: Path, s3: seaweed.SeaweedServer, prefix: str, catalog: str,
                      server_url: str, server_extra: str = "", extra_s3: str = "") -> Path:
    path = write_config(root, s3, prefix, catalog, {}, extra_s3=extra_s3)
    lines = [
        "[servers.main]",
        f'url = "{server_url}/postgres"',
        'slot = "dr_test"',
        "partial_upload_seconds = 1",
        server_extra,
        "[apps.shop]",
        f'database_url = "{server_url}/shop"',
        'server = "main"',
        "rto_hours = 4", "rpo_hours = 24", "every_hours = 6", "retention_days = 90",
        "critical = true",
    ]
    path.write_text(path.read_text() + "\n".join(lines) + "\n")
    return path


@contextmanager
def pitr_environment(root: Path, s3: seaweed.SeaweedServer, catalog: str, instances: Path,
                     server_extra: str = "", settings: dict[str, str] | None = None
                     ) -> Iterator[PitrEnv]:
    """SETTINGS: more postgresql.conf settings of the throwaway server."""
    with throwaway_instance(15, parent=instances,
                            settings={"max_wal_senders": "10", "wal_keep_size": "0",
                                      **(settings or {})}) as server:
        server_url = f"postgresql://postgres@127.0.0.1:{server.port}"
        run_sql("postgres", "CREATE DATABASE shop", server=server_url)
        run_sql("shop", SHOP_SCHEMA, server=server_url)
        prefix = f"t{secrets.token_hex(4)}"
        path = write_pitr_config(root, s3, prefix, catalog, server_url, server_extra)
        env = DREnv(root, path, s3, prefix, {"shop": "shop"}, catalog)
        yield PitrEnv(env, server)
