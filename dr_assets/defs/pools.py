"""The dump limits of dr.toml as Dagster pool limits: one pool per source server
(dr_assets.core.scheduling.sources), its limit set in the instance. The instance's
`pools: default_limit` (dagster_home/dagster.yaml) holds every pool to the default until
the first sync; the alert sensor syncs every minute and `make up` at start."""

from __future__ import annotations

import dagster as dg

from dr_assets.core.policy import DRConfig
from dr_assets.core.scheduling.sources import POOL_PREFIX, dump_limits


def sync_pool_limits(instance: dg.DagsterInstance, config: DRConfig) -> dict[str, int]:
    """Set each source's pool to its limit where the instance holds another; the changes
    made, by pool. Pools of ours no source uses any more are left to drain (a running
    backup still holds its slot) and keep their last limit."""
    storage = instance.event_log_storage
    current = {p.name: p.limit for p in storage.get_pool_limits()
               if p.name.startswith(POOL_PREFIX) and not p.from_default}
    changed = {pool: n for pool, n in dump_limits(config).items() if current.get(pool) != n}
    for pool, n in changed.items():
        storage.set_concurrency_slots(pool, n)
    return changed
