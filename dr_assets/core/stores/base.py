"""The Store protocol every destination implements, and its limits."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

READ_BLOCK = 1 << 20


@dataclass(frozen=True)
class ListedObject:
    """A key as the store's listing shows it, nothing read: its size, and a version that
    changes whenever the object is written again (S3: ETag and LastModified; a file: its
    mtime and inode, both new on every atomic rename)."""

    key: str
    size: int
    version: str


class ObjectWriter(Protocol):
    """Bytes are invisible under their key until commit(); abort() leaves nothing behind."""

    def write(self, data: bytes) -> None: ...

    def commit(self) -> None: ...

    def abort(self) -> None: ...


class Store(Protocol):
    name: str
    kind: str

    def describe(self, key: str) -> str:
        """Where a key lives, for messages (no credentials)."""
        ...

    def open_writer(self, key: str) -> ObjectWriter: ...

    def put_bytes(self, key: str, data: bytes) -> None: ...

    def get_bytes(self, key: str) -> bytes: ...

    def iter_object(self, key: str, block: int = READ_BLOCK) -> Iterator[bytes]: ...

    def size(self, key: str) -> int | None:
        """Size in bytes, or None when the key does not exist."""
        ...

    def list_keys(self, under: str = "") -> Iterator[str]: ...

    def list_objects(self, under: str = "") -> Iterator[ListedObject]:
        """The keys under a prefix with their sizes and versions, from the listing alone."""
        ...

    def list_folders(self, under: str = "") -> list[str]:
        """The names one level below `under` (a prefix ending in / or empty): S3's common
        prefixes of a delimiter listing, a directory's subdirectories; nothing deeper."""
        ...

    def delete(self, key: str) -> None: ...

    def cleanup_partials(self, older_than_seconds: float, keep: Collection[str] = ()) -> int:
        """Remove leftovers of interrupted writes older than that, except those of keys
        starting with one of `keep` (the writes of runs known alive); returns how many."""
        ...

    def remove_partials(self, key_prefix: str) -> int:
        """Remove the leftovers of interrupted writes of the keys starting with
        `key_prefix`, whatever their age (their writer is known dead); returns how many."""
        ...

    def locked_until(self, key: str) -> datetime | None:
        """Until when the store refuses to delete the key (S3 Object Lock), else None."""
        ...

    def check(self) -> None:
        """Raise StoreError when the destination is unreachable or not writable."""
        ...
