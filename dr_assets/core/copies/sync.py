"""Reconcile the stores with each other and the catalog with the stores, incrementally.

Each sync lists the stores (the top-level folders, then each app's folder: never the WAL
trees) and compares every backup's listing with what the last sync saw of it
(dr.synced_manifests). Only a new or changed manifest (its listed size or version differs,
or it is gone from a store) is read and upserted, and so is a backup whose listing shows a
copy missing or of the wrong size, or a store without a good copy: the repair copies the
backup there (verifying its SHA-256 on the way) and rewrites its manifests. With `verify`
every manifest is read and every copy re-read and checked; a corrupted copy is recorded
as a failed verification and replaced from a good one. Catalog rows whose backup no
longer exists anywhere are marked deleted. Backups, restores and drills whose process is
gone are marked failed (dead_runs.py: by liveness, not age), a dead backup's partial
uploads removed at once; leftovers of other interrupted writes are removed after an hour,
never those of a backup still running; throwaway servers of drills killed mid-way are
removed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from dr_assets.core.catalog import Catalog
from dr_assets.core.catalog.synced import SeenBackup, SyncedManifest
from dr_assets.core.copies.dead_runs import settle_dead_runs
from dr_assets.core.copies.listing import AppListing, backup_folders, list_app
from dr_assets.core.copies.locate import read_manifest
from dr_assets.core.copies.repair import RepairLog, repair_copies
from dr_assets.core.copies.verify import verify_backup
from dr_assets.core.errors import DRError, StoreError
from dr_assets.core.format.manifest import BackupManifest, backup_key_prefix
from dr_assets.core.pg.instance import remove_orphans
from dr_assets.core.policy import DRConfig
from dr_assets.core.stores.base import Store

PARTIAL_AGE_SECONDS = 3600  # leftovers of writes no running backup owns


@dataclass
class SyncReport(RepairLog):
    backups_found: int = 0
    catalog_upserts: int = 0
    marked_deleted: list[str] = field(default_factory=list)
    marked_failed: list[str] = field(default_factory=list)  # dead backups
    dead_runs_failed: int = 0  # dead backups, restores and drills marked failed
    partials_removed: int = 0
    unreadable: list[str] = field(default_factory=list)
    unreachable_stores: list[str] = field(default_factory=list)
    instances_removed: list[str] = field(default_factory=list)
    verified: bool = False  # a full pass: every manifest read, every copy re-read
    keys_listed: int = 0
    manifests_read: int = 0
    unchanged: int = 0  # backups whose listing matched the last sync's: nothing read
    copies_verified: int = 0
    corrupted: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)

    def summary(self) -> str:
        read = (f"every copy re-read: {self.copies_verified} checked, "
                f"{len(self.corrupted)} corrupted" if self.verified
                else f"{self.unchanged} unchanged")
        return (f"{self.backups_found} backups in the stores ({self.keys_listed} keys listed, "
                f"{self.manifests_read} manifests read, {read}), "
                f"{len(self.copies_repaired)} copies repaired, "
                f"{len(self.marked_deleted)} marked deleted, "
                f"{len(self.marked_failed)} marked failed, "
                f"{self.partials_removed} partial uploads removed")


def sync_catalog(stores: list[Store], catalog: Catalog, repair: bool = True,
                 instances_dir: Path | None = None, verify: bool = False,
                 config: DRConfig | None = None) -> SyncReport:
    """instances_dir: where drills start throwaway servers ([drills] in dr.toml). verify:
    re-read every copy and check its SHA-256 (without it, copies are only listed). config:
    lets a dead drill's scratch database be dropped."""
    report = SyncReport(verified=verify)
    settled = settle_dead_runs(catalog, stores, config=config, instances_dir=instances_dir)
    report.marked_failed += settled.backups
    report.dead_runs_failed = len(settled.failed)
    report.partials_removed += settled.partials_removed
    report.instances_removed += settled.instances_removed
    report.instances_removed += [str(root) for root in remove_orphans(instances_dir)]
    running = [backup_key_prefix(b) for b in catalog.running_backup_ids()]
    answering: list[Store] = []
    folders: set[str] = set()
    for store in stores:
        try:
            report.partials_removed += store.cleanup_partials(PARTIAL_AGE_SECONDS, keep=running)
            folders.update(backup_folders(store))
            answering.append(store)
        except StoreError as exc:
            report.unreachable_stores.append(str(exc))
    gone: list[str] = []
    for app, listings in _listed(sorted(folders | catalog.synced_apps()), answering):
        synced = _AppSync(app, answering, catalog, report, repair, verify)
        synced.run(listings)
        gone += synced.gone
    if not report.unreachable_stores:
        for backup_id in gone:
            catalog.mark_deleted(backup_id, "no longer present in any store")
            report.marked_deleted.append(backup_id)
    return report


def _listed(apps: list[str], stores: list[Store]
            ) -> Iterator[tuple[str, dict[str, AppListing | StoreError]]]:
    """Each app with its listing in every store (or why a store did not answer), one app
    at a time: the apps' listings are never all held at once."""
    for app in apps:
        listings: dict[str, AppListing | StoreError] = {}
        for store in stores:
            try:
                listings[store.name] = list_app(store, app)
            except StoreError as exc:
                listings[store.name] = exc
        yield app, listings


@dataclass
class _AppSync:
    """One app's part of a sync: its folder listed in every answering store, compared with
    what the catalog holds, the new and changed backups read, repaired and upserted."""

    app: str
    stores: list[Store]
    catalog: Catalog
    report: SyncReport
    repair: bool
    verify: bool
    found: set[str] = field(default_factory=set)
    gone: list[str] = field(default_factory=list)  # valid in the catalog, listed nowhere

    def run(self, listed_by: dict[str, AppListing | StoreError]) -> None:
        listings: dict[str, AppListing] = {}
        for name, listing in listed_by.items():
            if isinstance(listing, StoreError):
                self.report.unreachable_stores.append(str(listing))
            else:
                listings[name] = listing
                self.report.keys_listed += listing.keys
        here = [s for s in self.stores if s.name in listings]
        seen = self.catalog.seen_backups(self.app)
        listed = sorted({b for listing in listings.values()
                         for b, item in listing.backups.items() if item.manifest})
        synced: list[SyncedManifest] = []
        for backup_id in listed:
            versions = {name: item.manifest for name, listing in listings.items()
                        if (item := listing.backups.get(backup_id)) and item.manifest}
            before = seen.get(backup_id)
            if not self.verify and self._unchanged(backup_id, before, versions, listings):
                self.report.unchanged += 1
                self.found.add(backup_id)
                continue
            manifest = self._read(backup_id, [s for s in here if s.name in versions])
            if manifest is None:
                continue  # every manifest of it unreadable: a problem reported, not a deletion
            self.found.add(backup_id)
            settled = self._settle(manifest, here, {
                name: item.objects if (item := listing.backups.get(backup_id)) else {}
                for name, listing in listings.items()})
            self.catalog.record_manifest(settled)
            self.report.catalog_upserts += 1
            kept = ({n: v for n, v in before.synced.manifests.items() if n not in listings}
                    if before is not None and before.synced is not None else {})
            synced.append(SyncedManifest(
                backup_id, self.app,
                # A manifest rewritten just now is read once more by the next sync: its new
                # version is not in this listing.
                {} if settled is not manifest else {**kept, **versions},
                {o.key: o.stored_bytes for o in settled.stored_objects},
                settled.ok_destinations))
        self.catalog.record_synced(synced)
        self.report.backups_found += len(self.found)
        unlisted = [b for b in seen if b not in listed]
        self.catalog.forget_synced([b for b in unlisted if seen[b].synced is not None])
        self.gone = [b for b in unlisted if seen[b].valid]

    def _unchanged(self, backup_id: str, before: SeenBackup | None,
                   versions: dict[str, str], listings: dict[str, AppListing]) -> bool:
        """The listing shows the backup as the last sync left it: the same manifests, and
        (when repairing) a good copy of the sizes it recorded in every answering store."""
        if before is None or not before.valid or before.synced is None:
            return False
        last = before.synced
        if {n: v for n, v in last.manifests.items() if n in listings} != versions:
            return False
        if not self.repair:
            return True
        for name, listing in listings.items():
            item = listing.backups.get(backup_id)
            held = item.objects if item is not None else {}
            if name not in last.copies or any(held.get(k) != size
                                               for k, size in last.objects.items()):
                return False
        return True

    def _read(self, backup_id: str, stores: list[Store]) -> BackupManifest | None:
        """The manifest that knows of the most good copies, of those the stores hold."""
        best: BackupManifest | None = None
        for store in stores:
            self.report.manifests_read += 1
            try:
                manifest = read_manifest(store, backup_id)
            except DRError as exc:
                self.report.unreadable.append(str(exc))
                continue
            if best is None or len(manifest.ok_destinations) > len(best.ok_destinations):
                best = manifest
        return best

    def _settle(self, manifest: BackupManifest, stores: list[Store],
                listed: dict[str, dict[str, int]]) -> BackupManifest:
        """Verified (when asked) and repaired (when allowed): the manifest to record.
        `listed`: per store, the sizes of the backup's objects in its listing."""
        corrupted: set[str] = set()
        proven: set[str] = set()
        if self.verify:
            checks = verify_backup(manifest, stores, self.catalog).checks
            self.report.copies_verified += len(checks)
            proven = {c.destination for c in checks if c.ok}
            for c in checks:
                if not c.ok and not c.unreachable:
                    corrupted.add(c.destination)
                    self.report.corrupted.append(f"{manifest.backup_id} on {c.destination}: "
                                                 f"{c.error}")
        if not self.repair:
            return manifest
        try:
            repaired = repair_copies(manifest, stores, self.report, corrupted, proven, listed)
        except DRError as exc:
            self.report.repair_failures.append(f"{manifest.backup_id}: {exc}")
            return manifest
        replaced = [s for s in stores if s.name in corrupted
                    and s.name in repaired.ok_destinations and repaired is not manifest]
        if replaced:  # the failed verification recorded above is answered by the new copy
            verify_backup(repaired, replaced, self.catalog)
        return repaired
