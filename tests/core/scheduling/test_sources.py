"""Source servers and backup groups: apps group by cadence and host:port, a group's op name
is stable whatever apps join it, and each source's pool limit is the server's own or the
default."""

from __future__ import annotations

from pathlib import Path

from dr_assets.core.policy import (
    AppPolicy,
    ConcurrencySettings,
    DRConfig,
    EncryptionConfig,
    ServerPolicy,
)
from dr_assets.core.scheduling.sources import backup_groups, dump_limits, dump_source


def app(name: str, url: str, every: int = 6) -> AppPolicy:
    return AppPolicy(name=name, database_url=url, rto_hours=1, rpo_hours=12, every_hours=every,
                     retention_days=7, critical=False)


def config(apps: list[AppPolicy], servers: list[ServerPolicy] = (),  # type: ignore[assignment]
           default: int = 2) -> DRConfig:
    return DRConfig(path=Path("dr.toml"), catalog_url="postgresql://c/dr",
                    encryption=EncryptionConfig(key_file=Path("k"), key_env=None),
                    destinations=(), apps={a.name: a for a in apps},
                    servers={s.name: s for s in servers},
                    concurrency=ConcurrencySettings(max_concurrent_dumps=default))


def test_a_source_is_the_host_and_port() -> None:
    assert dump_source("postgresql://u:pw@DB.internal/x") == "db.internal:5432"
    assert dump_source("postgresql://u@db.internal:6432/y") == "db.internal:6432"


def test_apps_group_by_cadence_and_server_and_names_are_stable() -> None:
    apps = [app("a", "postgresql://u@db1/a"), app("b", "postgresql://u@db1/b"),
            app("c", "postgresql://u@db2/c"), app("d", "postgresql://u@db1/d", every=24)]
    groups = {(g.every_hours, g.source): g for g in backup_groups(config(apps))}
    assert groups[(6, "db1:5432")].apps == ("a", "b")
    assert groups[(6, "db2:5432")].apps == ("c",)
    assert groups[(24, "db1:5432")].apps == ("d",)
    assert groups[(6, "db1:5432")].pool == groups[(24, "db1:5432")].pool == "dr-dumps/db1:5432"
    fewer = {(g.every_hours, g.source): g for g in backup_groups(config(apps[:1]))}
    assert fewer[(6, "db1:5432")].name == groups[(6, "db1:5432")].name
    assert len({g.name for g in groups.values()}) == 3
    # Sources that differ only in punctuation still get different names.
    dotted = backup_groups(config([app("x", "postgresql://u@a.b/x"), app("y", "postgresql://u@a_b/y")]))
    assert len({g.name for g in dotted}) == 2


def test_limits_are_the_servers_own_else_the_default() -> None:
    apps = [app("a", "postgresql://u@db1/a"), app("b", "postgresql://u@db2/b")]
    servers = [ServerPolicy(name="one", url="postgresql://r@db1/postgres", max_concurrent_dumps=5),
               ServerPolicy(name="three", url="postgresql://r@db3/postgres")]
    assert dump_limits(config(apps, servers, default=3)) == {
        "dr-dumps/db1:5432": 5, "dr-dumps/db2:5432": 3, "dr-dumps/db3:5432": 3}
