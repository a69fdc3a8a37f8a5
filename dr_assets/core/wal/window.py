"""The recoverable window of a server, computed from what the stores hold: from the
consistent point of the oldest base backup whose WAL chain is unbroken to the newest WAL,
to the moment the newest WAL byte in that chain was received.

A base backup is usable from its end (PostgreSQL refuses to stop recovery before the
backup's consistent point); a gap in the WAL after it ends its range at the gap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from dr_assets.core.format.base_backup import BaseBackupManifest
from dr_assets.core.format.manifest import parse_time
from dr_assets.core.pg.wal_names import Segment, parse_lsn
from dr_assets.core.statuses import VALID_STATUSES
from dr_assets.core.wal.archive import WalArchive
from dr_assets.core.wal.chain import Chain, follow_chain, held_names, histories_held


@dataclass(frozen=True)
class RecoveryRange:
    base: BaseBackupManifest
    chain: Chain
    earliest: datetime
    latest: datetime | None  # when the chain's last file was received


@dataclass(frozen=True)
class RecoveryWindow:
    server: str
    ranges: list[RecoveryRange] = field(default_factory=list)  # oldest base backup first

    @property
    def current(self) -> RecoveryRange | None:
        """The range that reaches the newest WAL (what `latest` recovers from)."""
        return self.ranges[-1] if self.ranges else None

    @property
    def earliest(self) -> datetime | None:
        """The oldest moment of the unbroken stretch that ends at the newest WAL."""
        if not self.ranges:
            return None
        newest_end = self.ranges[-1].chain.end
        reaching = [r for r in self.ranges if r.chain.end == newest_end and r.chain.ok]
        return (reaching[0] if reaching else self.ranges[-1]).earliest

    @property
    def latest(self) -> datetime | None:
        return self.ranges[-1].latest if self.ranges else None

    def base_for(self, moment: datetime | None) -> RecoveryRange | None:
        """The newest base backup whose range holds `moment` (None: the newest WAL)."""
        for r in reversed(self.ranges):
            if moment is None:
                return r if r.chain.ok or r.chain.names else None
            if r.earliest <= moment and (r.latest is None or moment <= r.latest):
                return r
        return None


def recovery_window(archive: WalArchive, bases: list[BaseBackupManifest]) -> RecoveryWindow:
    held = held_names(archive)
    histories = histories_held(archive, held)  # read and decrypted once for every base backup
    ranges: list[RecoveryRange] = []
    for base in bases:
        if base.status not in VALID_STATUSES:
            continue
        stop = Segment.of(base.timeline, parse_lsn(base.stop_lsn), base.wal_segment_size)
        chain = follow_chain(archive, base.start_wal,
                             covered_until=stop.name if base.includes_wal else None, held=held,
                             start_lsn=parse_lsn(base.start_lsn), histories=histories)
        if not chain.names or Segment.parse(chain.names[-1]).number < stop.number:
            continue  # the chain does not even reach the backup's consistent point
        earliest = parse_time(base.finished_at)
        latest = _received_at(archive, chain)
        # the chain may end inside the WAL the base backup carries (nothing newer stored
        # yet): then its own consistent point is also the newest moment it reaches
        ranges.append(RecoveryRange(base, chain, earliest,
                                    max(latest, earliest) if latest is not None else earliest))
    return RecoveryWindow(archive.server, ranges)


def _received_at(archive: WalArchive, chain: Chain) -> datetime | None:
    for name in reversed(chain.names):
        for store in archive.stores:
            header = archive.header(store, name)
            if header is not None:
                return parse_time(header.received_at)
    return None
