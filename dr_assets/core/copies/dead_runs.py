"""Settle the backups, restores and drills whose process is gone: each row marked failed
with what happened, a dead backup's partial uploads and files removed from every store,
a dead drill's scratch database dropped (same_server) and its throwaway server removed
(isolated). Liveness is the run's key on the catalog (catalog/liveness.py), never its age,
so a live run is never touched however long it runs.

The next backup of an app settles that app's dead runs, catalog sync and the alert sensor
every app's: the sensor asks one catalog statement each minute and opens the stores only
when something is dead.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from dr_assets.core.catalog import Catalog
from dr_assets.core.catalog.liveness import (
    KIND_BACKUP,
    KIND_DRILL,
    KIND_RESTORE,
    LEGACY_STALE_SECONDS,
    DeadRun,
)
from dr_assets.core.errors import DRError, StoreError
from dr_assets.core.format.manifest import backup_key_prefix
from dr_assets.core.pg.conninfo import ConnInfo
from dr_assets.core.pg.databases import database_exists, drop_database
from dr_assets.core.pg.instance import remove_orphans
from dr_assets.core.policy import DRConfig, DrillTarget
from dr_assets.core.stores.base import Store

GONE = "its process ended without finishing it (killed, or its catalog session lost)"
TOO_OLD = (f"running for over {LEGACY_STALE_SECONDS // 3600} h and recorded before runs "
           "kept a liveness key: taken for interrupted")
SCRATCH_PREFIX = "drill_"  # what drills.drill.scratch_name makes; nothing else is dropped


@dataclass
class SettledRuns:
    failed: list[DeadRun] = field(default_factory=list)
    partials_removed: int = 0
    scratch_dropped: list[str] = field(default_factory=list)
    instances_removed: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # leftovers that could not be removed

    @property
    def backups(self) -> list[str]:
        return [r.id for r in self.failed if r.kind == KIND_BACKUP]

    def summary(self) -> str:
        kinds = [f"{sum(r.kind == k for r in self.failed)} {k}(s)"
                 for k in (KIND_BACKUP, KIND_RESTORE, KIND_DRILL)]
        return (f"dead runs marked failed: {', '.join(kinds)}; {self.partials_removed} "
                f"partial upload(s) removed, {len(self.scratch_dropped)} scratch database(s) "
                f"dropped" + "".join(f"; {p}" for p in self.problems))


def settle_dead_runs(catalog: Catalog, stores: list[Store] | Callable[[], list[Store]], *,
                     app: str | None = None, config: DRConfig | None = None,
                     instances_dir: Path | None = None) -> SettledRuns:
    """Find and settle the dead runs (of `app`, or every app's). `stores` may be a function,
    called only when a dead backup's leftovers are to be removed. `config` lets a dead
    same_server drill's scratch database be dropped from its app's server."""
    settled = SettledRuns()
    dead = catalog.dead_runs(app)
    if not dead:
        return settled
    if any(r.kind == KIND_DRILL for r in dead):
        settled.instances_removed = [str(p) for p in remove_orphans(instances_dir)]
    opened = stores() if callable(stores) else stores
    for run in dead:
        reason = TOO_OLD if run.by_age else GONE
        dropped = False
        if run.kind == KIND_BACKUP:
            removed = _remove_partials(run.id, opened, settled)
            reason += f"; {removed} partial upload(s) removed"
        elif run.kind == KIND_DRILL:
            dropped = _drop_scratch(run, config, settled)
        elif run.kind == KIND_RESTORE:
            reason += f"; its target database {run.leftover} may hold part of the restore"
        if catalog.fail_dead(run, f"interrupted: {reason}", scratch_dropped=dropped):
            settled.failed.append(run)
    return settled


def _remove_partials(backup_id: str, stores: list[Store], settled: SettledRuns) -> int:
    removed = 0
    for store in stores:
        try:
            removed += store.remove_partials(backup_key_prefix(backup_id))
        except StoreError as exc:  # the age-based cleanup of a later sync gets it
            settled.problems.append(str(exc))
    settled.partials_removed += removed
    return removed


def _drop_scratch(run: DeadRun, config: DRConfig | None, settled: SettledRuns) -> bool:
    """Drop a dead same_server drill's scratch database; an isolated drill's lived in its
    throwaway server (remove_orphans), a point-in-time drill's in a recovered one."""
    scratch = run.leftover or ""
    if run.how != DrillTarget.SAME_SERVER or not scratch.startswith(SCRATCH_PREFIX):
        return run.how != DrillTarget.SAME_SERVER
    if config is None or run.app not in config.apps:
        return False
    server = ConnInfo.parse(config.app(run.app).database_url)
    with contextlib.suppress(DRError):
        drop_database(server, scratch)
        if not database_exists(server, scratch):
            settled.scratch_dropped.append(scratch)
            return True
    settled.problems.append(f"scratch database {scratch} of dead drill {run.id} could not "
                            "be dropped")
    return False
