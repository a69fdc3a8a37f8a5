"""Catalog sync is incremental: it lists the stores (never the WAL trees) and reads only new
or changed manifests; copies are re-read only with --verify. Real SeaweedFS, local store and
catalog; the stores are the real ones wrapped to note what they read and list (the wrapper
only counts, see tests/support/stores.py)."""

from __future__ import annotations

import json
from dataclasses import replace

from dr_assets.core.copies.sync import SyncReport, sync_catalog
from dr_assets.core.format.manifest import (
    BackupManifest,
    backup_keys,
    manifest_key,
    object_key,
)
from dr_assets.core.runtime import DRRuntime
from tests.support.env import DREnv, verified_backups
from tests.support.stores import CountedLocal, CountedS3, counted_stores


def _sync(rt: DRRuntime, stores: dict[str, CountedLocal | CountedS3]) -> SyncReport:
    for store in stores.values():
        store.forget()
    return sync_catalog(list(stores.values()), rt.catalog)


def _manifests_read(stores: dict[str, CountedLocal | CountedS3]) -> set[str]:
    return {key for s in stores.values() for key in s.small_reads}


def _copies_read(stores: dict[str, CountedLocal | CountedS3]) -> list[str]:
    return [f"{name}:{key}" for name, s in stores.items() for key in s.objects_read]


def _rewrite(store: CountedLocal | CountedS3, manifest: BackupManifest) -> None:
    store.put_bytes(manifest_key(manifest.backup_id), manifest.to_json())


def test_sync_reads_only_new_and_changed_manifests(dr_env: DREnv) -> None:
    rt = dr_env.runtime()
    stores = counted_stores(rt.config)
    first, second = verified_backups(rt, "shop", 2)
    # The WAL archive and base backups beside the dumps: never listed by a sync.
    for store in stores.values():
        store.put_bytes("_wal/srv/00000001/000000010000000000000001", b"wal")
        store.put_bytes("_base/srv/srv-20260101T000000Z-abcd.base.json", b"{}")

    # A catalog that has the rows (the backups recorded them) but not what a sync saw: each
    # manifest is read once, no copy is re-read.
    report = _sync(rt, stores)
    assert report.backups_found == 2 and report.catalog_upserts == 2
    assert _manifests_read(stores) == {manifest_key(first.backup_id),
                                       manifest_key(second.backup_id)}
    assert _copies_read(stores) == []
    for store in stores.values():
        assert store.listed and not [p for p in store.listed if p.startswith("_")], store.listed

    # Nothing changed: nothing read, nothing upserted.
    report = _sync(rt, stores)
    assert (report.backups_found, report.unchanged, report.catalog_upserts) == (2, 2, 0)
    assert report.manifests_read == 0 and _manifests_read(stores) == set()
    assert _copies_read(stores) == []

    # A new backup is picked up by the next sync, and only it is read.
    [third] = verified_backups(rt, "shop", 1)
    report = _sync(rt, stores)
    assert _manifests_read(stores) == {manifest_key(third.backup_id)}
    assert report.catalog_upserts == 1 and report.unchanged == 2
    seen = rt.catalog.seen_backups("shop")[third.backup_id]
    assert seen.synced is not None and set(seen.synced.manifests) == {"s3", "local"}

    # A manifest rewritten in one store (its copy state: where S3 holds the copy) is read
    # again; the catalog takes the new copy state.
    moved = first.with_destination(
        "s3", replace(first.destinations["s3"], location="s3 (rewritten by a repair)"))
    _rewrite(stores["s3"], moved)
    report = _sync(rt, stores)
    assert _manifests_read(stores) == {manifest_key(first.backup_id)}
    assert report.catalog_upserts == 1 and _copies_read(stores) == []
    row = rt.catalog.get_backup(first.backup_id)
    assert row is not None and row.copies["s3"].location == "s3 (rewritten by a repair)"
    assert _sync(rt, stores).unchanged == 3

    # A manifest file rewritten in the local store (a new mtime and inode).
    _rewrite(stores["local"], replace(second, dagster_partition="2026-01-01-00:00"))
    assert _sync(rt, stores).catalog_upserts == 1
    assert _manifests_read(stores) == {manifest_key(second.backup_id)}


def test_copies_gone_from_a_store_are_seen_in_the_listing_and_repaired(dr_env: DREnv) -> None:
    rt = dr_env.runtime()
    stores = counted_stores(rt.config)
    kept, lost_dump, lost_backup = verified_backups(rt, "shop", 3)
    _sync(rt, stores)

    # The listing shows a dump gone from the local store and a whole backup gone from S3:
    # those two are read and repaired, from the copy the other store holds.
    stores["local"].delete(object_key(lost_dump.backup_id))
    for key in backup_keys(lost_backup.backup_id):
        stores["s3"].delete(key)
    report = _sync(rt, stores)
    assert sorted(report.copies_repaired) == sorted([f"{lost_dump.backup_id} -> local",
                                                     f"{lost_backup.backup_id} -> s3"])
    assert kept.backup_id not in " ".join(_copies_read(stores))
    assert stores["local"].size(object_key(lost_dump.backup_id)) == lost_dump.stored_bytes
    assert stores["s3"].size(manifest_key(lost_backup.backup_id)) is not None
    # The repair rewrote their manifests: read once more, then nothing.
    assert _sync(rt, stores).manifests_read == 4
    assert _sync(rt, stores).unchanged == 3 and _manifests_read(stores) == set()

    # Gone from every store: marked deleted, and its sync state forgotten.
    for store in stores.values():
        for key in backup_keys(kept.backup_id):
            store.delete(key)
    report = _sync(rt, stores)
    assert report.marked_deleted == [kept.backup_id] and report.backups_found == 2
    row = rt.catalog.get_backup(kept.backup_id)
    assert row is not None and row.status == "deleted"
    assert kept.backup_id not in rt.catalog.seen_backups("shop")
    assert _sync(rt, stores).marked_deleted == []


def test_verify_rereads_every_copy_and_flags_a_corrupted_one(dr_env: DREnv) -> None:
    rt = dr_env.runtime()
    stores = counted_stores(rt.config)
    made = verified_backups(rt, "shop", 2)
    _sync(rt, stores)
    # Same size, other bytes: no listing can tell; only re-reading the copy does.
    damaged = dr_env.local_dir / object_key(made[1].backup_id)
    blob = bytearray(damaged.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    damaged.write_bytes(bytes(blob))
    plain = _sync(rt, stores)
    assert plain.corrupted == [] and _copies_read(stores) == []

    proc = dr_env.drctl("catalog", "sync", "--verify", "--json", check=False)
    assert proc.returncode == 1, proc.stderr  # a corrupted copy is an incident
    report = json.loads(proc.stdout)
    assert report["verified"] is True
    assert report["copies_verified"] == 4  # every copy of every backup re-read
    [corrupted] = report["corrupted"]
    assert corrupted.startswith(f"{made[1].backup_id} on local: ") and "checksum" in corrupted
    # ... and replaced from the good copy, verified again.
    assert report["copies_repaired"] == [f"{made[1].backup_id} -> local"]
    assert json.loads(dr_env.drctl("verify", made[1].backup_id, "--json").stdout)["ok"] is True
    row = rt.catalog.get_backup(made[1].backup_id)
    assert row is not None and row.copies["local"].verified_ok is True
