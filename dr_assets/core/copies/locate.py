"""Finding a backup's manifest and stored copies, and proving a copy intact."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Protocol

from dr_assets.core.catalog import Catalog
from dr_assets.core.copies.listing import manifest_keys
from dr_assets.core.errors import BackupNotFound, CatalogError, DRError, IntegrityError, StoreError
from dr_assets.core.format.manifest import (
    BackupManifest,
    StoredObject,
    manifest_key,
    object_key,
)
from dr_assets.core.names import check_backup_id
from dr_assets.core.statuses import BackupStatus
from dr_assets.core.stores.base import Store


class StoredBackup(Protocol):
    """What proving a copy needs of a manifest: a dump's or a base backup's."""

    @property
    def backup_id(self) -> str: ...
    @property
    def sha256(self) -> str: ...
    @property
    def stored_bytes(self) -> int: ...
    @property
    def object_key(self) -> str: ...


@dataclass(frozen=True)
class CopyCheck:
    destination: str
    ok: bool
    expected_sha256: str
    actual_sha256: str | None
    stored_bytes: int | None
    error: str | None
    unreachable: bool = False  # the store did not answer: says nothing about integrity

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def read_manifest(store: Store, backup_id: str) -> BackupManifest:
    key = manifest_key(backup_id)
    manifest = BackupManifest.from_json(store.get_bytes(key), store.describe(key))
    if manifest.backup_id != backup_id:
        raise IntegrityError(
            f"{store.describe(key)} describes {manifest.backup_id}, not {backup_id}: "
            "the manifests were swapped or overwritten"
        )
    return manifest


def find_manifest(backup_id: str, stores: list[Store], catalog: Catalog | None) -> BackupManifest:
    """From the catalog when there is one, else from the first store holding a good manifest."""
    check_backup_id(backup_id)
    problems: list[str] = []
    if catalog is not None:
        try:
            row = catalog.get_backup(backup_id)
        except CatalogError as exc:
            problems.append(str(exc))
            row = None
        if row is not None and row.status == BackupStatus.DELETED:
            raise BackupNotFound(f"backup {backup_id} was deleted ({row.error})")
        if row is not None and row.manifest:
            return BackupManifest.from_json(_dumps(row.manifest), f"catalog entry of {backup_id}")
        if row is not None:
            raise BackupNotFound(
                f"backup {backup_id} is {row.status} and has no manifest: "
                f"{row.error or 'it never completed'}"
            )
    for store in stores:
        try:
            return read_manifest(store, backup_id)
        except (StoreError, IntegrityError) as exc:
            problems.append(str(exc))
    raise BackupNotFound(
        f"backup {backup_id} was not found in the catalog or any store"
        + (f" ({'; '.join(problems[:3])})" if problems else "")
        + ": list them with `drctl backups --from-storage`"
    )


def _dumps(body: object) -> str:
    import json

    return json.dumps(body)


def check_copy(store: Store, manifest: BackupManifest) -> CopyCheck:
    """Re-read one stored copy, every object of it (the dump, and the server objects of a
    version-2 backup), and compare sizes and SHA-256 with the manifest."""
    checks = [check_object(store, manifest, obj) for obj in manifest.stored_objects]
    dump = checks[0]
    bad = next((c for c in checks if not c.ok), None)
    if bad is None or bad is dump:
        return dump
    return replace(bad, actual_sha256=dump.actual_sha256, stored_bytes=dump.stored_bytes)


def check_object(store: Store, manifest: StoredBackup, obj: StoredObject) -> CopyCheck:
    """Re-read one object of a stored copy in full; its size and SHA-256 against `obj`."""
    where = store.describe(obj.key)
    try:
        size = store.size(obj.key)
        if size is None:
            return CopyCheck(store.name, False, manifest.sha256, None, None,
                             f"{where}: the object is missing")
        sha = hashlib.sha256()
        total = 0
        for block in store.iter_object(obj.key):
            sha.update(block)
            total += len(block)
    except StoreError as exc:
        return CopyCheck(store.name, False, manifest.sha256, None, None, str(exc),
                         unreachable=True)
    actual = sha.hexdigest()
    mismatch = checksum_mismatch(manifest, store.name, actual, total, obj)
    if mismatch is not None:
        return CopyCheck(store.name, False, manifest.sha256, actual, total, mismatch)
    return CopyCheck(store.name, True, manifest.sha256, actual, total, None)


def checksum_mismatch(manifest: StoredBackup, destination: str, actual_sha256: str,
                      total: int, obj: StoredObject | None = None) -> str | None:
    """Why an object of a copy (the dump unless `obj` names another), as read in full, is not
    the one the manifest describes; None if it is."""
    sha256, size = (obj.sha256, obj.stored_bytes) if obj else (manifest.sha256, manifest.stored_bytes)
    if total == size and actual_sha256 == sha256:
        return None
    what = "" if obj is None or obj.key == manifest.object_key else "the server objects of "
    return (f"{what}backup {manifest.backup_id} failed its checksum on {destination} "
            f"(expected {sha256[:12]}.., got {actual_sha256[:12]}..; {total} of {size} bytes)")


def stat_copy(store: Store, manifest: BackupManifest) -> str | None:
    """The checks of a copy that read none of it (a stat or HEAD): it exists and has the
    manifest's size. Why it cannot be the copy, or None. Raises StoreError."""
    key = object_key(manifest.backup_id)
    size = store.size(key)
    if size is None:
        return f"{store.describe(key)}: the object is missing"
    if size != manifest.stored_bytes:
        return (f"backup {manifest.backup_id} failed its checksum on {store.name} (it holds "
                f"{size} bytes, the manifest says {manifest.stored_bytes} bytes)")
    return None


def candidate_stores(manifest: BackupManifest, stores: list[Store]) -> list[Store]:
    """Copies to try, the manifest's good ones first and local disk before the network."""
    ok = set(manifest.ok_destinations)
    return sorted(stores, key=lambda s: (s.name not in ok, s.kind != "local"))


def iter_stored(store: Store, manifest: BackupManifest) -> Iterator[bytes]:
    return store.iter_object(object_key(manifest.backup_id))


def list_manifests(store: Store, app: str | None = None) -> Iterator[BackupManifest | DRError]:
    """Every manifest a store holds (of one app's folder when given, never listing the WAL
    trees); unreadable ones come back as errors, not exceptions."""
    for key in manifest_keys(store, app):
        try:
            yield BackupManifest.from_json(store.get_bytes(key), store.describe(key))
        except DRError as exc:
            yield exc


@dataclass
class StoreScan:
    """Every backup the stores hold, read from their manifests alone."""

    manifests: dict[str, BackupManifest] = field(default_factory=dict)
    found_in: dict[str, list[str]] = field(default_factory=dict)
    unreadable: list[str] = field(default_factory=list)
    unreachable: list[str] = field(default_factory=list)


def scan_stores(stores: list[Store], app: str | None = None,
                before_listing: Callable[[Store], None] | None = None) -> StoreScan:
    """One pass over every store's manifests. Where stores disagree, the manifest that knows
    of the most good copies wins. An unreachable store is reported, not fatal."""
    scan = StoreScan()
    for store in stores:
        try:
            if before_listing is not None:
                before_listing(store)
            for item in list_manifests(store, app):
                if isinstance(item, DRError):
                    scan.unreadable.append(str(item))
                    continue
                if app is not None and item.app != app:
                    continue
                scan.found_in.setdefault(item.backup_id, []).append(store.name)
                known = scan.manifests.get(item.backup_id)
                if known is None or len(item.ok_destinations) > len(known.ok_destinations):
                    scan.manifests[item.backup_id] = item
        except StoreError as exc:
            scan.unreachable.append(str(exc))
    return scan


def newest_at_or_before(app: str, instant: datetime, stores: list[Store],
                        catalog: Catalog | None) -> BackupManifest:
    """The newest backup of app taken at or before instant: verified ones from the catalog,
    or (break-glass) any listed in the stores, whose copies restore checks anyway."""
    if catalog is not None:
        row = catalog.newest_verified(app, at_or_before=instant)
        if row is None:
            raise BackupNotFound(f"{app} has no verified backup taken at or before "
                                 f"{instant.isoformat()}")
        return find_manifest(row.backup_id, stores, catalog)
    taken = [m for m in scan_stores(stores, app).manifests.values() if m.started <= instant]
    best = max(taken, key=lambda m: m.started, default=None)
    if best is None:
        raise BackupNotFound(f"no backup of {app} taken at or before {instant.isoformat()} "
                             "in any store")
    return best
