"""The dump backups a store holds, as its listing shows them, nothing read.

Dumps live under `<app>/<YYYY>/<MM>/<DD>/` (format.manifest.object_key); the WAL archive
and base backups under `_wal/` and `_base/`, which no app name can be. So the backups are
found by listing the top-level folders (one delimiter listing) and then each app's folder,
never the WAL trees.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from dr_assets.core.errors import InvalidName
from dr_assets.core.format.manifest import (
    MANIFEST_SUFFIX,
    OBJECT_SUFFIX,
    SERVER_OBJECTS_SUFFIX,
    manifest_key,
    object_key,
    server_objects_key,
)
from dr_assets.core.names import check_app_name, check_backup_id
from dr_assets.core.stores.base import ListedObject, Store

_KEY_OF: dict[str, Callable[[str], str]] = {
    MANIFEST_SUFFIX: manifest_key, OBJECT_SUFFIX: object_key,
    SERVER_OBJECTS_SUFFIX: server_objects_key,
}


def backup_folders(store: Store) -> list[str]:
    """The top-level folders of a store that hold an app's dumps."""
    folders = []
    for name in store.list_folders():
        try:
            folders.append(check_app_name(name))
        except InvalidName:
            continue  # _wal, _base, or anything else beside the dumps
    return folders


def manifest_keys(store: Store, app: str | None = None) -> Iterator[str]:
    """The manifest keys of one app's folder, or of every app's."""
    for folder in [app] if app else backup_folders(store):
        for key in store.list_keys(f"{folder}/"):
            if key.endswith(MANIFEST_SUFFIX):
                yield key


def backup_of(key: str) -> tuple[str, str] | None:
    """(backup id, suffix) of a key where a backup's object or manifest belongs, else None."""
    name = key.rsplit("/", 1)[-1]
    for suffix, key_of in _KEY_OF.items():
        if name.endswith(suffix):
            backup_id = name[: -len(suffix)]
            try:
                check_backup_id(backup_id)
            except InvalidName:
                return None
            return (backup_id, suffix) if key_of(backup_id) == key else None
    return None


@dataclass
class ListedBackup:
    """One backup in one store's listing: its manifest's `<size>:<version>` (None when the
    store lists no manifest of it) and the listed size of each of its stored objects."""

    manifest: str | None = None
    objects: dict[str, int] = field(default_factory=dict)


def version_of(obj: ListedObject) -> str:
    return f"{obj.size}:{obj.version}"


@dataclass
class AppListing:
    backups: dict[str, ListedBackup] = field(default_factory=dict)
    keys: int = 0  # every key the listing returned


def list_app(store: Store, app: str) -> AppListing:
    """The backups of one app in one store, from one listing of its folder. Raises
    StoreError."""
    listing = AppListing()
    for obj in store.list_objects(f"{app}/"):
        listing.keys += 1
        found = backup_of(obj.key)
        if found is None:
            continue
        backup_id, suffix = found
        backup = listing.backups.setdefault(backup_id, ListedBackup())
        if suffix == MANIFEST_SUFFIX:
            backup.manifest = version_of(obj)
        else:
            backup.objects[obj.key] = obj.size
    return listing
