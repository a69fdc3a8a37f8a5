"""The real local and S3 stores, counting every byte they hand out, so a test can tell how
many times a stored copy was read."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from dr_assets.core.policy import DRConfig
from dr_assets.core.stores.base import READ_BLOCK
from dr_assets.core.stores.local import LocalStore
from dr_assets.core.stores.s3 import S3Store


class CountsReads:
    """Mixed in before a real store class: what its reads return is counted, and which keys
    it read and which prefixes it listed are noted; nothing else about the store changes."""

    bytes_read = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.objects_read: list[str] = []  # keys streamed by iter_object: a copy re-read
        self.small_reads: list[str] = []  # keys read whole by get_bytes: manifests
        self.listed: set[str] = set()  # prefixes listed (list_keys, list_objects)

    def iter_object(self, key: str, block: int = READ_BLOCK) -> Iterator[bytes]:
        self.objects_read.append(key)
        parent: Any = super()
        for piece in parent.iter_object(key, block):
            self.bytes_read += len(piece)
            yield piece

    def get_bytes(self, key: str) -> bytes:
        self.small_reads.append(key)
        parent: Any = super()
        data: bytes = parent.get_bytes(key)
        self.bytes_read += len(data)
        return data

    def list_keys(self, under: str = "") -> Iterator[str]:
        self.listed.add(under)
        parent: Any = super()
        yield from parent.list_keys(under)

    def list_objects(self, under: str = "") -> Iterator[Any]:
        self.listed.add(under)
        parent: Any = super()
        yield from parent.list_objects(under)

    def forget(self) -> None:
        """Start counting afresh."""
        self.bytes_read = 0
        self.objects_read, self.small_reads, self.listed = [], [], set()


class CountedLocal(CountsReads, LocalStore):
    pass


class CountedS3(CountsReads, S3Store):
    pass


def counted_stores(config: DRConfig) -> dict[str, CountedLocal | CountedS3]:
    """The config's destinations by name, in their order, each counting its reads."""
    return {d.name: CountedLocal(d) if d.kind == "local" else CountedS3(d)
            for d in config.destinations}
