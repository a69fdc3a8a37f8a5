"""An estate under attack: two apps (`shop` with one verified backup, `other` beside it)
and an API of its own over real HTTP whose Dagster URL answers nothing, so a request that
got past the checks would be answered DagsterUnavailable rather than run."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dr_assets.core.access.tokens import mint_token
from dr_assets.core.policy import load_config
from tests.support.env import DREnv, verified_backups
from tests.support.pg import run_sql
from tests.support.stack import ApiServer, free_port, start_api


@dataclass
class Estate:
    env: DREnv
    backup_id: str  # a verified backup of shop
    other_db: str  # the database of app `other`
    secret: str

    def token(self, role: str = "admin", subject: str = "mallory") -> str:
        return mint_token(self.secret, load_config(self.env.config_path).api, subject, role, 600)


@pytest.fixture
def estate(dr_env: DREnv, make_db: Callable[[str], str]) -> Estate:
    other = make_db("other")
    run_sql(other, "CREATE TABLE ledger (id int PRIMARY KEY); "
                   "INSERT INTO ledger SELECT generate_series(1, 50)")
    env = dr_env.with_apps({**dr_env.apps, "other": other})
    [backup] = verified_backups(env.runtime(), "shop")
    secret = "sec-" + secrets.token_hex(24)
    (env.root / "keys" / "jwt.secret").write_text(secret)
    (env.root / "keys" / "jwt.secret").chmod(0o600)  # a key open to others is refused
    with env.config_path.open("a") as fh:
        fh.write(f'[api]\ndagster_url = "http://127.0.0.1:{free_port()}"\n'
                 'jwt_secret_env = "DR_SECURITY_TESTS_NO_SUCH_VARIABLE"\n'
                 'jwt_secret_file = "keys/jwt.secret"\n')
    return Estate(env, backup.backup_id, other, secret)


@pytest.fixture
def estate_api(estate: Estate) -> Iterator[str]:
    server: ApiServer = start_api(Path(estate.env.config_path))
    yield server.url
    server.stop()


CONFIG = """
[catalog]
database_url = "postgresql://postgres@127.0.0.1:5432/drt_catalog"
[encryption]
key_file = "keys/master.key"
[[destinations]]
name = "local"
kind = "local"
path = "backups"
[servers.main]
url = "postgresql://postgres@127.0.0.1:5432/postgres"
slot = "dr_main"
[apps.shop]
database_url = "postgresql://postgres@127.0.0.1:5432/drt_shop"
rto_hours = 4
rpo_hours = 24
every_hours = 6
retention_days = 90
[[apps.shop.validation]]
name = "orders_recent"
sql = "select 1"
expect = "1"
[apps.other]
database_url = "postgresql://postgres@127.0.0.1:5432/drt_other"
rto_hours = 4
rpo_hours = 24
every_hours = 6
retention_days = 90
"""


@pytest.fixture
def estate_config(tmp_path: Path) -> Path:
    """dr.toml alone (nothing behind it is read or touched): apps shop and other, catalog
    drt_catalog, server main."""
    path = tmp_path / "dr.toml"
    path.write_text(CONFIG)
    return path


def allow(config: Path, value: str) -> None:
    """Set [apps.shop] replace_allowed = VALUE (TOML) in the dr.toml at CONFIG."""
    config.write_text(config.read_text().replace("[apps.shop]\n",
                                                 f"[apps.shop]\nreplace_allowed = {value}\n", 1))
