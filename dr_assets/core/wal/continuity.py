"""Whether the WAL a base backup needs is unbroken in the stores, from its start segment to
the newest WAL held: the question the `wal_continuous` check asks, answered by the chain
(dr_assets.core.wal.chain). A base backup carrying its own WAL (`includes_wal`) counts its
start..stop segments as held."""

from __future__ import annotations

from dr_assets.core.format.base_backup import BaseBackupManifest
from dr_assets.core.format.keys import Keyring
from dr_assets.core.pg.wal_names import Segment, parse_lsn
from dr_assets.core.stores.base import Store
from dr_assets.core.wal.archive import WalArchive
from dr_assets.core.wal.chain import Chain, follow_chain


def stop_wal(manifest: BaseBackupManifest) -> str:
    """The segment holding the base backup's stop LSN: recovery is consistent after it."""
    return Segment.of(manifest.timeline, parse_lsn(manifest.stop_lsn),
                      manifest.wal_segment_size).name


def wal_continuity(manifest: BaseBackupManifest, stores: list[Store], keyring: Keyring) -> Chain:
    archive = WalArchive(manifest.server, stores, keyring)
    return follow_chain(archive, manifest.start_wal,
                        covered_until=stop_wal(manifest) if manifest.includes_wal else None)
