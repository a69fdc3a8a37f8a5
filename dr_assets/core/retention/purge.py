"""Purge: the catalog forgets the rows of backups, base backups and WAL files that retention
(or sync) deleted more than `[catalog] keep_deleted_days` ago, as the last step of a
retention run, for the apps and servers that run covers.

Until then a deleted backup's row stays: compliance reports count it for the windows it
covered and list its deletion, the status timeline counts it as succeeded, the storage
trend counts its bytes until its deletion. keep_deleted_days 0 keeps the rows for ever.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from dr_assets.core.catalog import Catalog
from dr_assets.core.catalog.purge import PurgedRows


@dataclass(frozen=True)
class PurgeOutcome:
    keep_deleted_days: int
    before: datetime | None  # rows deleted before this go; None: keep_deleted_days is 0
    dry_run: bool
    rows: PurgedRows

    @property
    def verb(self) -> str:
        return "would_purge" if self.dry_run else "purged"

    def of_app(self, app: str) -> dict[str, Any]:
        """What an app's retention outcome adds: {verb: {"backups": n}}."""
        return {self.verb: {"backups": self.rows.backups.get(app, 0)}}

    def of_server(self, server: str) -> dict[str, Any]:
        return {self.verb: {"base_backups": self.rows.base_backups.get(server, 0),
                            "wal_files": self.rows.wal_files.get(server, 0)}}

    def summary(self) -> str:
        if self.before is None:
            return "catalog: keep_deleted_days = 0: the rows of deleted backups are kept"
        when = f"deleted before {self.before:%Y-%m-%d %H:%M} UTC ({self.keep_deleted_days} days)"
        if self.rows.empty:
            return f"catalog: no rows of backups {when} to purge"
        verb = "would purge" if self.dry_run else "purged"
        return f"catalog: {verb} {self.rows.describe()}; {when}"


def purge_deleted_rows(catalog: Catalog, keep_deleted_days: int, *, apps: Sequence[str],
                       servers: Sequence[str], dry_run: bool, actor: str, role: str,
                       now: datetime | None = None) -> PurgeOutcome:
    """Purge (or, with dry_run, count) the rows deleted more than keep_deleted_days ago;
    each batch removed is audited as `actor` in `role`."""
    if keep_deleted_days == 0:
        return PurgeOutcome(0, None, dry_run, PurgedRows())
    before = (now or datetime.now(UTC)) - timedelta(days=keep_deleted_days)
    if dry_run:
        return PurgeOutcome(keep_deleted_days, before, True,
                            catalog.purgeable(apps, servers, before))
    arguments = {"keep_deleted_days": keep_deleted_days, "deleted_before": before.isoformat(),
                 "apps": len(apps), "servers": sorted(servers)}
    rows = catalog.purge_deleted(apps, servers, before, actor, role, arguments)
    return PurgeOutcome(keep_deleted_days, before, False, rows)
