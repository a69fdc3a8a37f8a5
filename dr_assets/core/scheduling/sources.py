"""The PostgreSQL servers that dumps read from, and how many dumps each takes at once.

An app's source is the host and port of its database_url; a [servers.NAME]'s is its url's,
so apps on a protected server share its limit (`max_concurrent_dumps`, else the
[concurrency] default) with its base backups. Dagster enforces each limit as a pool named
`dr-dumps/<host>:<port>`; apps of one cadence on one source form one group, whose backups
are one Dagster multi-asset in that pool.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from dataclasses import dataclass

from dr_assets.core.pg.conninfo import ConnInfo
from dr_assets.core.policy import AppPolicy, DRConfig

POOL_PREFIX = "dr-dumps/"


def dump_source(url: str) -> str:
    info = ConnInfo.parse(url)
    return f"{info.host.lower()}:{info.port}"


def dump_pool(source: str) -> str:
    return POOL_PREFIX + source


def app_pool(policy: AppPolicy) -> str:
    return dump_pool(dump_source(policy.database_url))


def dump_limits(config: DRConfig) -> dict[str, int]:
    """Each source's pool and its limit: a server's own where one names it (the smallest,
    if several [servers.NAME] share a source), else the [concurrency] default."""
    default = config.concurrency.max_concurrent_dumps
    limits = {app_pool(p): default for p in config.apps.values()}
    explicit: dict[str, int] = {}
    for server in config.servers.values():
        pool = dump_pool(dump_source(server.url))
        limits.setdefault(pool, default)
        if server.max_concurrent_dumps is not None:
            explicit[pool] = min(explicit.get(pool, server.max_concurrent_dumps),
                                 server.max_concurrent_dumps)
    return limits | explicit


@dataclass(frozen=True)
class BackupGroup:
    """The apps of one cadence whose databases live on one source server."""

    every_hours: int
    source: str
    apps: tuple[str, ...]

    @property
    def pool(self) -> str:
        return dump_pool(self.source)

    @property
    def name(self) -> str:
        """An op name (letters, digits, underscores) that stays the same while the cadence
        and the source do, whichever apps join or leave."""
        slug = re.sub(r"[^a-z0-9]+", "_", self.source.lower()).strip("_")[:40]
        digest = hashlib.sha256(self.source.encode()).hexdigest()[:6]
        return f"backups_every_{self.every_hours}h_on_{slug}_{digest}"


def backup_groups(config: DRConfig) -> list[BackupGroup]:
    members: dict[tuple[int, str], list[str]] = defaultdict(list)
    for policy in config.apps.values():
        members[(policy.every_hours, dump_source(policy.database_url))].append(policy.name)
    return [BackupGroup(h, source, tuple(sorted(apps)))
            for (h, source), apps in sorted(members.items())]
