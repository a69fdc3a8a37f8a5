"""The Store protocol every destination implements, and its limits."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Protocol

READ_BLOCK = 1 << 20


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

    def delete(self, key: str) -> None: ...

    def cleanup_partials(self, older_than_seconds: float) -> int:
        """Remove leftovers of interrupted writes; returns how many."""
        ...

    def locked_until(self, key: str) -> datetime | None:
        """Until when the store refuses to delete the key (S3 Object Lock), else None."""
        ...

    def check(self) -> None:
        """Raise StoreError when the destination is unreachable or not writable."""
        ...
