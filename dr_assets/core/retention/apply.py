"""Apply a retention plan: delete every copy of each expired backup, then its catalog row.

A backup being read by a restore or drill holds a shared lease in the catalog; retention
takes the exclusive lease before deleting, so a backup in use is skipped, not deleted. A
backup held since the plan was made (its app's contents check ran meanwhile) is skipped too.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from dr_assets.core.catalog import Catalog
from dr_assets.core.errors import StoreError
from dr_assets.core.format.manifest import backup_keys, object_key, server_objects_key
from dr_assets.core.policy import AppPolicy
from dr_assets.core.retention.plan import RetentionCandidate, RetentionPlan, plan_retention
from dr_assets.core.stores.base import Store


@dataclass
class RetentionOutcome:
    plan: RetentionPlan
    dry_run: bool
    deleted: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "app": self.plan.app,
            "dry_run": self.dry_run,
            "decisions": [d.__dict__ for d in self.plan.decisions],
            "would_delete" if self.dry_run else "deleted":
                [d.backup_id for d in self.plan.to_delete] if self.dry_run else self.deleted,
            "bytes_freed": self.plan.bytes_freed,
            "skipped": self.skipped,
        }


def build_plan(policy: AppPolicy, catalog: Catalog, now: datetime,
               stores: list[Store] | None = None) -> RetentionPlan:
    """The plan; backups it would delete are checked for an S3 Object Lock first."""
    rows = catalog.retention_rows(policy.name)
    in_use = catalog.backups_in_use([r.backup_id for r in rows])
    candidates = [
        RetentionCandidate(
            backup_id=r.backup_id, started_at=r.started_at,
            verified=r.verified and not r.check_failed,
            stored_bytes=r.stored_bytes or 0, in_use=r.backup_id in in_use,
            held_reason=(r.held_reason or "held") if r.held else None,
        )
        for r in rows
    ]
    plan = plan_retention(policy.name, candidates, policy.retention_days, policy.min_keep, now)
    if not stores or not plan.to_delete:
        return plan
    locks = {d.backup_id: _lock_of(d.backup_id, stores) for d in plan.to_delete}
    candidates = [replace(c, locked_until=locks.get(c.backup_id)) for c in candidates]
    return plan_retention(policy.name, candidates, policy.retention_days, policy.min_keep, now)


def _lock_of(backup_id: str, stores: list[Store]) -> datetime | None:
    dates = [d for s in stores for key in (object_key(backup_id), server_objects_key(backup_id))
             if (d := s.locked_until(key)) is not None]
    return max(dates) if dates else None


def apply_retention(policy: AppPolicy, *, stores: list[Store], catalog: Catalog,
                    dry_run: bool = True, now: datetime | None = None) -> RetentionOutcome:
    plan = build_plan(policy, catalog, now or datetime.now(UTC), stores)
    outcome = RetentionOutcome(plan=plan, dry_run=dry_run)
    if dry_run:
        return outcome
    for decision in plan.to_delete:
        backup_id = decision.backup_id
        with catalog.backup_exclusive(backup_id) as got:
            if not got:
                outcome.skipped[backup_id] = "in use by a restore or drill"
                continue
            if catalog.is_held(backup_id):  # held since the plan was made
                outcome.skipped[backup_id] = "held since the plan was made"
                continue
            try:
                # Manifest first: a half-deleted backup is then invisible, never "valid".
                for key in backup_keys(backup_id):
                    for store in stores:
                        store.delete(key)
            except StoreError as exc:
                outcome.skipped[backup_id] = str(exc)
                continue
            catalog.mark_deleted(backup_id, f"retention: {decision.reason}")
            outcome.deleted.append(backup_id)
    return outcome
