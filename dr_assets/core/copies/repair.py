"""Repair a backup's copies: give every store that lacks a good copy one, streamed from a
copy proven good and verified again once written, then publish the manifest beside it."""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from dr_assets.core.copies.locate import candidate_stores, check_copy
from dr_assets.core.copies.publish import publish_manifest
from dr_assets.core.errors import DRError, IntegrityError
from dr_assets.core.format.manifest import (
    BackupManifest,
    DestinationResult,
    iso,
    object_key,
)
from dr_assets.core.statuses import CopyStatus
from dr_assets.core.stores.base import Store


@dataclass
class RepairLog:
    """What repairs did: `<backup_id> -> <store>` per copy made, and why others failed."""

    copies_repaired: list[str] = field(default_factory=list)
    repair_failures: list[str] = field(default_factory=list)


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


def _holds_good_copy(store: Store, manifest: BackupManifest,
                     listed: Mapping[str, int] | None) -> bool:
    """The manifest says the store has a good copy and the store holds objects of its sizes
    (as `listed`, the sizes its listing showed, or a stat or HEAD per object; nothing read)."""
    current = manifest.destinations.get(store.name)
    if current is None or current.status != CopyStatus.OK:
        return False
    size = listed.get if listed is not None else store.size
    return all(size(obj.key) == obj.stored_bytes for obj in manifest.stored_objects)


def repair_copies(manifest: BackupManifest, stores: list[Store], log: RepairLog | None = None,
                  corrupted: Collection[str] = (), proven: Collection[str] = (),
                  listed: Mapping[str, Mapping[str, int]] | None = None) -> BackupManifest:
    """Give every configured destination a verified copy, if one good copy exists; the same
    manifest when nothing needed repair. `corrupted`: stores whose copy just failed its
    checksum (replaced like a missing one); `proven`: stores whose copy just passed it (not
    read again to prove it before copying from it); `listed`: per store, the sizes of the
    backup's objects its listing just showed (no stat or HEAD then)."""
    listed = listed or {}
    lacking = [s for s in stores if s.name in corrupted
               or not _holds_good_copy(s, manifest, listed.get(s.name))]
    if not lacking:
        return manifest
    good = next((s for s in candidate_stores(manifest, stores) if s.name not in corrupted
                 and (s.name in proven or check_copy(s, manifest).ok)), None)
    if good is None:
        return manifest
    changed = False
    for store in lacking:
        if store is good:
            continue
        current = manifest.destinations.get(store.name)
        try:
            _copy_between(good, store, manifest)
            verified = check_copy(store, manifest)
            if not verified.ok:
                raise IntegrityError(verified.error or "copy failed verification")
        except DRError as exc:
            if log is not None:
                log.repair_failures.append(f"{manifest.backup_id} -> {store.name}: {exc}")
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
        if log is not None:
            log.copies_repaired.append(f"{manifest.backup_id} -> {store.name}")
    if changed:
        manifest = publish_manifest(manifest, stores)
    return manifest
