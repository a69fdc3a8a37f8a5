"""A protected server's archive and recoverable window as the interfaces ask for them (the
API's recoveryWindow, /metrics, point-in-time drills and restores): from the stores, never
from the catalog alone."""

from __future__ import annotations

from dr_assets.core.format.keys import Keyring
from dr_assets.core.policy import DRConfig
from dr_assets.core.stores.base import Store
from dr_assets.core.wal.archive import WalArchive
from dr_assets.core.wal.window import RecoveryWindow, recovery_window, stored_base_backups


def server_archive(config: DRConfig, server: str, stores: list[Store],
                   keyring: Keyring) -> WalArchive:
    return WalArchive(server, stores, keyring, chunk_size=config.encryption.chunk_size,
                      level=config.zstd_level)


def server_window(config: DRConfig, server: str, stores: list[Store],
                  keyring: Keyring) -> RecoveryWindow:
    """What the stores let `server` be recovered to now (reads every store's listing)."""
    config.server(server)  # an unknown server is a ConfigError, not an empty window
    return recovery_window(server_archive(config, server, stores, keyring),
                           stored_base_backups(server, stores))
