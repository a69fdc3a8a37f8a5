"""Reconcile the stores with each other and the catalog with the stores.

For every manifest found in any store: copy the backup to the destinations that lack a
good copy (verifying the SHA-256 on the way), rewrite the manifests with the new copy
states, and upsert the catalog row. Catalog rows whose backup no longer exists anywhere
are marked deleted; backups stuck in `running` are marked failed; leftovers of
interrupted uploads are removed, and so are throwaway servers of drills killed mid-way.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from dr_assets.core.catalog import Catalog
from dr_assets.core.copies.locate import candidate_stores, check_copy, scan_stores
from dr_assets.core.copies.publish import publish_manifest
from dr_assets.core.errors import DRError, IntegrityError
from dr_assets.core.format.manifest import (
    BackupManifest,
    DestinationResult,
    iso,
    object_key,
)
from dr_assets.core.pg.instance import remove_orphans
from dr_assets.core.statuses import VALID_STATUSES, CopyStatus
from dr_assets.core.stores.base import Store

STALE_SECONDS = 6 * 3600


@dataclass
class SyncReport:
    backups_found: int = 0
    catalog_upserts: int = 0
    copies_repaired: list[str] = field(default_factory=list)
    repair_failures: list[str] = field(default_factory=list)
    marked_deleted: list[str] = field(default_factory=list)
    marked_failed: list[str] = field(default_factory=list)
    partials_removed: int = 0
    unreadable: list[str] = field(default_factory=list)
    unreachable_stores: list[str] = field(default_factory=list)
    instances_removed: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def _copy_between(src: Store, dst: Store, manifest: BackupManifest) -> None:
    """Stream src's copy (every object of it) into dst, refusing to commit an object unless
    its SHA-256 matches; the dump goes last, so a copy is never a dump without the rest."""
    for obj in reversed(manifest.stored_objects):
        writer = dst.open_writer(obj.key)
        sha = hashlib.sha256()
        try:
            for block in src.iter_object(obj.key):
                sha.update(block)
                writer.write(block)
            if sha.hexdigest() != obj.sha256:
                raise IntegrityError(f"{src.describe(obj.key)} changed while copying "
                                     "(checksum mismatch)")
            writer.commit()
        except BaseException:
            writer.abort()
            raise


def _holds_copy(store: Store, manifest: BackupManifest) -> bool:
    return all(store.size(obj.key) == obj.stored_bytes for obj in manifest.stored_objects)


def repair_copies(manifest: BackupManifest, stores: list[Store],
                  report: SyncReport | None = None) -> BackupManifest:
    """Give every configured destination a verified copy, if one good copy exists."""
    good: Store | None = None
    for store in candidate_stores(manifest, stores):
        if check_copy(store, manifest).ok:
            good = store
            break
    if good is None:
        return manifest
    changed = False
    for store in stores:
        current = manifest.destinations.get(store.name)
        if current is not None and current.status == CopyStatus.OK and _holds_copy(store,
                                                                                 manifest):
            continue
        if store is good:
            continue
        try:
            _copy_between(good, store, manifest)
            verified = check_copy(store, manifest)
            if not verified.ok:
                raise IntegrityError(verified.error or "copy failed verification")
        except DRError as exc:
            if report is not None:
                report.repair_failures.append(f"{manifest.backup_id} -> {store.name}: {exc}")
            if current is None:
                manifest = manifest.with_destination(
                    store.name, DestinationResult(status=CopyStatus.FAILED, error=str(exc)))
                changed = True
            continue
        manifest = manifest.with_destination(
            store.name,
            DestinationResult(status=CopyStatus.OK, stored_bytes=manifest.stored_bytes,
                              uploaded_at=iso(datetime.now(UTC)),
                              location=store.describe(object_key(manifest.backup_id))),
        )
        changed = True
        if report is not None:
            report.copies_repaired.append(f"{manifest.backup_id} -> {store.name}")
    if changed:
        manifest = publish_manifest(manifest, stores)
    return manifest


def sync_catalog(stores: list[Store], catalog: Catalog, repair: bool = True,
                 instances_dir: Path | None = None) -> SyncReport:
    """instances_dir: where drills start throwaway servers ([drills] in dr.toml)."""
    report = SyncReport()
    report.instances_removed += [str(root) for root in remove_orphans(instances_dir)]

    def clean(store: Store) -> None:
        report.partials_removed += store.cleanup_partials(older_than_seconds=3600)

    scan = scan_stores(stores, before_listing=clean)
    found = scan.manifests
    report.unreadable += scan.unreadable
    report.unreachable_stores += scan.unreachable
    report.backups_found = len(found)
    for backup_id in sorted(found):
        manifest = found[backup_id]
        if repair:
            try:
                manifest = repair_copies(manifest, stores, report)
            except DRError as exc:
                report.repair_failures.append(f"{backup_id}: {exc}")
        catalog.record_manifest(manifest)
        report.catalog_upserts += 1
    if not report.unreachable_stores:
        for row in catalog.list_backups(statuses=list(VALID_STATUSES), with_manifests=False):
            if row.backup_id not in found:
                catalog.mark_deleted(row.backup_id, "no longer present in any store")
                report.marked_deleted.append(row.backup_id)
    for backup_id in catalog.stale_running(STALE_SECONDS):
        if backup_id not in found:
            catalog.fail_backup(backup_id, "interrupted: never completed", datetime.now(UTC))
            report.marked_failed.append(backup_id)
    return report
