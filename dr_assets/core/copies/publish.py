"""Publishing a manifest beside every good copy: the step that makes a backup visible."""

from __future__ import annotations

import contextlib

from dr_assets.core.errors import BackupError, StoreError
from dr_assets.core.format.manifest import (
    BackupManifest,
    DestinationResult,
    backup_keys,
    manifest_key,
)
from dr_assets.core.statuses import CopyStatus
from dr_assets.core.stores.base import Store


def publish_manifest(manifest: BackupManifest, stores: list[Store]) -> BackupManifest:
    """Write the manifest beside every good copy; a store that refuses it loses its copy."""
    mkey = manifest_key(manifest.backup_id)
    for _ in range(len(stores) + 1):
        changed = False
        for store in stores:
            dest = manifest.destinations.get(store.name)
            if dest is None or dest.status != CopyStatus.OK:
                continue
            try:
                store.put_bytes(mkey, manifest.to_json())
            except StoreError as exc:
                _forget_copy(store, manifest)
                manifest = manifest.with_destination(
                    store.name, DestinationResult(status=CopyStatus.FAILED, error=str(exc),
                                                  location=dest.location))
                changed = True
        if not changed:
            break
    if not manifest.ok_destinations:
        raise BackupError(f"backup {manifest.backup_id}: no destination accepted its manifest")
    return manifest


def _forget_copy(store: Store, manifest: BackupManifest) -> None:
    for key in backup_keys(manifest.backup_id):
        with contextlib.suppress(StoreError):
            store.delete(key)
