"""Retention of a server's chain: base backups by the server's policy (retention_days, the
min_keep floor of the newest completed ones, object lock, a restore reading one), and the
WAL kept exactly as far back as the oldest kept base backup needs: every segment and
partial from its start segment on, on its timeline or a later one. History files are
always kept (tiny, and recovery needs them). Without any base backup no WAL is deleted.

Applying deletes a base backup's manifest first (a half-deleted backup is invisible, never
"valid"), then its object, then the WAL no kept base backup needs; a base backup that could
not be deleted keeps its WAL.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from dr_assets.core.catalog import Catalog
from dr_assets.core.errors import StoreError
from dr_assets.core.format.base_backup import BaseBackupManifest
from dr_assets.core.format.manifest import parse_time
from dr_assets.core.format.wal import WalKind
from dr_assets.core.pg.wal_names import Segment
from dr_assets.core.policy import ServerPolicy
from dr_assets.core.retention.plan import RetentionCandidate, RetentionPlan, plan_retention
from dr_assets.core.statuses import VALID_STATUSES
from dr_assets.core.stores.base import Store
from dr_assets.core.wal.archive import kind_of, name_of_key, wal_key, wal_prefix
from dr_assets.core.wal.base_backup import list_base_backups_in_stores


def wal_needed(name: str, kept_starts: Sequence[Segment]) -> bool:
    """Whether a WAL file is needed by a kept base backup starting at one of KEPT_STARTS:
    history files always; a segment or partial from a start's number on, on that start's
    timeline or a later one. With no kept base backup, everything is kept."""
    if kind_of(name) == WalKind.HISTORY or not kept_starts:
        return True
    seg = Segment.parse(name)
    return any(seg.timeline >= s.timeline and seg.number >= s.number for s in kept_starts)


def starts_of(manifests: Iterable[BaseBackupManifest]) -> list[Segment]:
    return [Segment.parse(m.start_wal, m.wal_segment_size) for m in manifests]


@dataclass(frozen=True)
class WalPlan:
    """The WAL to delete (name -> the stores holding it) and what stays."""

    delete: dict[str, list[str]]
    kept: int
    keep_from: list[str]  # the kept base backups' start segments
    stored_bytes: int = 0

    def to_dict(self, dry_run: bool) -> dict[str, Any]:
        return {"keep_from": self.keep_from, "kept": self.kept,
                "would_delete" if dry_run else "to_delete": sorted(self.delete),
                "bytes": self.stored_bytes}


def plan_wal(held: dict[str, list[str]], kept: Sequence[BaseBackupManifest]) -> WalPlan:
    """HELD: every WAL file name the stores hold -> those stores."""
    starts = starts_of(kept)
    delete = {n: stores for n, stores in held.items() if not wal_needed(n, starts)}
    return WalPlan(delete=delete, kept=len(held) - len(delete),
                   keep_from=sorted({s.name for s in starts}))


def held_wal(server: str, stores: list[Store]) -> dict[str, list[str]]:
    held: dict[str, list[str]] = {}
    for store in stores:
        for key in store.list_keys(wal_prefix(server)):
            name = name_of_key(key)
            try:
                kind_of(name)
            except ValueError:
                continue
            held.setdefault(name, []).append(store.name)
    return held


@dataclass(frozen=True)
class ServerRetentionPlan:
    server: str
    backups: RetentionPlan
    manifests: dict[str, BaseBackupManifest]
    wal: WalPlan

    @property
    def kept(self) -> list[BaseBackupManifest]:
        return [self.manifests[d.backup_id] for d in self.backups.to_keep]

    @property
    def bytes_freed(self) -> int:
        return self.backups.bytes_freed + self.wal.stored_bytes


def _lock_of(manifest: BaseBackupManifest, stores: list[Store]) -> datetime | None:
    dates = [d for s in stores for key in (manifest.object_key, manifest.manifest_key)
             if (d := s.locked_until(key)) is not None]
    return max(dates) if dates else None


def _sized(plan: WalPlan, server: str, stores: list[Store], now: datetime) -> WalPlan:
    """The plan with its bytes counted, less the WAL an object lock keeps."""
    by_name = {s.name: s for s in stores}
    delete: dict[str, list[str]] = {}
    total = 0
    for name, holders in plan.delete.items():
        key = wal_key(server, name)
        if any((d := by_name[h].locked_until(key)) is not None and d > now for h in holders):
            continue
        delete[name] = holders
        total += sum(by_name[h].size(key) or 0 for h in holders)
    return replace(plan, delete=delete, kept=plan.kept + len(plan.delete) - len(delete),
                   stored_bytes=total)


def build_server_plan(policy: ServerPolicy, stores: list[Store], catalog: Catalog,
                      now: datetime) -> ServerRetentionPlan:
    """The plan, from what the stores hold (their base backup manifests and WAL)."""
    manifests = {m.backup_id: m for m in list_base_backups_in_stores(policy.name, stores)}
    in_use = catalog.backups_in_use(list(manifests))
    candidates = [
        RetentionCandidate(backup_id=m.backup_id, started_at=parse_time(m.started_at),
                           verified=m.status in VALID_STATUSES,
                           stored_bytes=m.stored_bytes * len(m.ok_destinations),
                           in_use=m.backup_id in in_use)
        for m in manifests.values()
    ]
    backups = plan_retention(policy.name, candidates, policy.retention_days, policy.min_keep, now)
    if backups.to_delete:
        locks = {d.backup_id: _lock_of(manifests[d.backup_id], stores) for d in backups.to_delete}
        candidates = [replace(c, locked_until=locks.get(c.backup_id)) for c in candidates]
        backups = plan_retention(policy.name, candidates, policy.retention_days,
                                 policy.min_keep, now)
    kept = [manifests[d.backup_id] for d in backups.to_keep]
    wal = _sized(plan_wal(held_wal(policy.name, stores), kept), policy.name, stores, now)
    return ServerRetentionPlan(policy.name, backups, manifests, wal)


@dataclass
class ServerRetentionOutcome:
    plan: ServerRetentionPlan
    dry_run: bool
    deleted: list[str] = field(default_factory=list)  # base backups
    wal_deleted: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # backup id or WAL name -> why

    def to_dict(self) -> dict[str, Any]:
        p = self.plan
        wal = p.wal.to_dict(self.dry_run)
        if not self.dry_run:
            wal.pop("to_delete")
            wal["deleted"] = self.wal_deleted
        return {
            "server": p.server,
            "dry_run": self.dry_run,
            "decisions": [d.__dict__ for d in p.backups.decisions],
            "would_delete" if self.dry_run else "deleted":
                [d.backup_id for d in p.backups.to_delete] if self.dry_run else self.deleted,
            "wal": wal,
            "bytes_freed": p.bytes_freed,
            "skipped": self.skipped,
        }


def _delete_base_backup(m: BaseBackupManifest, stores: list[Store]) -> None:
    # Manifest first: a half-deleted backup is then invisible, never "valid".
    for key in (m.manifest_key, m.object_key):
        for store in stores:
            store.delete(key)


def apply_server_retention(policy: ServerPolicy, *, stores: list[Store], catalog: Catalog,
                           dry_run: bool = True, now: datetime | None = None
                           ) -> ServerRetentionOutcome:
    at = now or datetime.now(UTC)
    plan = build_server_plan(policy, stores, catalog, at)
    outcome = ServerRetentionOutcome(plan=plan, dry_run=dry_run)
    if dry_run:
        return outcome
    still_there = list(plan.kept)
    for decision in plan.backups.to_delete:
        manifest = plan.manifests[decision.backup_id]
        with catalog.backup_exclusive(manifest.backup_id) as got:
            if not got:
                outcome.skipped[manifest.backup_id] = "in use by a restore or drill"
                still_there.append(manifest)
                continue
            try:
                _delete_base_backup(manifest, stores)
            except StoreError as exc:
                outcome.skipped[manifest.backup_id] = str(exc)
                still_there.append(manifest)
                continue
            catalog.mark_base_backup_deleted(manifest.backup_id)
            outcome.deleted.append(manifest.backup_id)
    # A base backup that stayed keeps its WAL: the WAL to delete is judged again.
    starts = starts_of(still_there)
    by_name = {s.name: s for s in stores}
    for name, holders in sorted(plan.wal.delete.items()):
        if wal_needed(name, starts):
            continue
        try:
            for holder in holders:
                by_name[holder].delete(wal_key(policy.name, name))
        except StoreError as exc:
            outcome.skipped[name] = str(exc)
            continue
        outcome.wal_deleted.append(name)
    if outcome.wal_deleted:
        catalog.mark_wal_deleted(policy.name, outcome.wal_deleted)
    return outcome
