"""Health of every app and of the whole estate, from the catalog's facts."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime

from dr_assets.core.catalog import Catalog
from dr_assets.core.catalog.rows import AppFacts
from dr_assets.core.health.scores import GlobalHealth, score_app, score_global
from dr_assets.core.policy import DRConfig


@dataclass(frozen=True)
class EstateStatus:
    now: datetime
    health: GlobalHealth
    facts: dict[str, AppFacts]


def estate_status(config: DRConfig, catalog: Catalog, now: datetime | None = None) -> EstateStatus:
    now = now or datetime.now(UTC)
    facts = catalog.app_facts(list(config.apps), now)
    if any(p.server for p in config.apps.values()):
        wal = catalog.newest_wal_times()
        facts = {name: replace(f, newest_wal_at=wal.get(config.apps[name].server or ""))
                 if config.apps[name].server else f for name, f in facts.items()}
    apps = [score_app(policy, facts[name], now) for name, policy in config.apps.items()]
    return EstateStatus(now=now, health=score_global(apps), facts=facts)
