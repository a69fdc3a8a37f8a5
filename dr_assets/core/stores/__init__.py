"""Storage destinations: one small interface, a local and an S3 implementation."""

from __future__ import annotations

from dr_assets.core.policy import DestinationConfig, DRConfig
from dr_assets.core.stores.base import ObjectWriter, Store


def open_store(dest: DestinationConfig) -> Store:
    """The one factory; the S3 SDK is imported only when an S3 destination exists."""
    if dest.kind == "local":
        from dr_assets.core.stores.local import LocalStore

        return LocalStore(dest)
    if dest.kind == "s3":
        from dr_assets.core.stores.s3 import S3Store

        return S3Store(dest)
    raise ValueError(f"unknown destination kind {dest.kind!r}")


def open_stores(config: DRConfig) -> list[Store]:
    return [open_store(d) for d in config.destinations]


__all__ = ["ObjectWriter", "Store", "open_store", "open_stores"]
