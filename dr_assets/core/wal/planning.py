"""Planning a recovery: the recoverable window the stores hold, the base backup whose range
holds the target and the WAL recovery must find, or a refusal naming the window (and a
gap's last reachable moment) before anything is made."""

from __future__ import annotations

from dataclasses import dataclass

from dr_assets.core.errors import WalError
from dr_assets.core.format.base_backup import BaseBackupManifest
from dr_assets.core.format.keys import Keyring
from dr_assets.core.format.manifest import iso
from dr_assets.core.pg.wal_names import Segment, format_lsn, parse_lsn
from dr_assets.core.stores.base import Store
from dr_assets.core.wal.archive import WalArchive
from dr_assets.core.wal.base_backup import list_base_backups_in_stores
from dr_assets.core.wal.targets import RecoveryTarget, TargetKind
from dr_assets.core.wal.window import RecoveryRange, RecoveryWindow, recovery_window


@dataclass(frozen=True)
class RecoveryPlan:
    """The base backup to start from and the WAL files recovery must find."""

    server: str
    target: RecoveryTarget
    range: RecoveryRange
    window: RecoveryWindow

    @property
    def base(self) -> BaseBackupManifest:
        return self.range.base

    @property
    def needed(self) -> list[str]:
        """What recovery reads; a gap's first segment too, so that its absence stops
        recovery instead of being taken for the end of WAL."""
        chain = self.range.chain
        return [*chain.names, *([chain.gap_at] if chain.gap_at else [])]

    @property
    def timeline(self) -> int | None:
        """The timeline the chain ends on: a base backup taken on a timeline a later
        recovery branched off before it recovers along its own, not to the newest."""
        timelines = self.range.chain.timelines
        return timelines[-1] if timelines else None


def window_text(window: RecoveryWindow) -> str:
    if not window.ranges:
        return "nothing is recoverable"
    earliest = min(r.earliest for r in window.ranges)
    latest = window.latest
    return (f"recoverable from {iso(earliest)} to "
            f"{iso(latest) if latest else 'the newest WAL'}")


def _gap_note(r: RecoveryRange) -> str:
    chain = r.chain
    if chain.gap_at is None:
        return ""
    last = iso(r.latest) if r.latest else "its start"
    return (f"; WAL segment {chain.gap_at} is missing from every store, so the last reachable "
            f"moment is about {last} (WAL received until then): recover with --to-time up to it")


def plan_recovery(window: RecoveryWindow, target: RecoveryTarget) -> RecoveryPlan:
    """The base backup and WAL for `target`; WalError naming the window when it is outside.
    Reads nothing: the window was read from the stores."""
    server = window.server
    if not window.ranges:
        raise WalError(f"server {server} has no base backup whose WAL reaches its consistent "
                       "point in the stores: nothing to recover from (take a base backup)")
    newest = window.ranges[-1]
    if target.kind == TargetKind.LATEST:
        if newest.chain.gap_at is not None:
            raise WalError(f"recovery of {server} to the newest WAL is not possible"
                           + _gap_note(newest))
        return RecoveryPlan(server, target, newest, window)
    if target.kind == TargetKind.LSN:
        return RecoveryPlan(server, target, _range_for_lsn(window, target), window)
    moment = target.time
    assert moment is not None
    chosen = window.base_for(moment)
    if chosen is None:
        earliest = min(r.earliest for r in window.ranges)
        if moment < earliest:
            why = f"{target.describe()} is before the earliest base backup's consistent point"
        elif window.latest is not None and moment > window.latest:
            why = f"{target.describe()} is after the newest WAL the stores hold"
        else:
            why = f"{target.describe()} falls in a stretch no base backup's WAL covers"
        raise WalError(f"cannot recover {server} to {target.describe()}: {why} "
                       f"({window_text(window)}){_gap_note(newest)}")
    if target.kind == TargetKind.NAME:
        _point_on_path(chosen, target)
    return RecoveryPlan(server, target, chosen, window)


def _point_on_path(chosen: RecoveryRange, target: RecoveryTarget) -> None:
    """A restore point made on a timeline the chain leaves before it (a later recovery
    branched off earlier) is not in the WAL recovery replays."""
    path = chosen.chain.path
    if target.lsn is None or target.timeline is None or path is None:
        return
    if not path.passes(target.timeline, target.lsn):
        raise WalError(
            f"cannot recover {chosen.base.server} to {target.describe()}: it was made at "
            f"{format_lsn(target.lsn)} on timeline {target.timeline}, which the WAL from base "
            f"backup {chosen.base.backup_id} does not pass (it follows timelines "
            f"{', '.join(map(str, chosen.chain.timelines))}): a later recovery branched off "
            "before it; recover with --to-time instead")


def _range_for_lsn(window: RecoveryWindow, target: RecoveryTarget) -> RecoveryRange:
    lsn = target.lsn
    assert lsn is not None
    fits = []
    for r in window.ranges:
        start = parse_lsn(r.base.stop_lsn)
        end = Segment.parse(r.chain.names[-1].removesuffix(".partial"))
        if start <= lsn < end.end_lsn:
            fits.append(r)
    if fits:
        return fits[-1]
    first = min(parse_lsn(r.base.stop_lsn) for r in window.ranges)
    newest = window.ranges[-1]
    last = Segment.parse(newest.chain.names[-1].removesuffix(".partial")).end_lsn
    why = ("is before the earliest base backup's consistent point" if lsn < first
           else "is beyond the newest WAL the stores hold")
    raise WalError(f"cannot recover {window.server} to {target.describe()}: it {why} "
                   f"(recoverable from LSN {format_lsn(first)} to before {format_lsn(last)}; "
                   f"{window_text(window)}){_gap_note(newest)}")


def read_window(server: str, stores: list[Store], keyring: Keyring) -> RecoveryWindow:
    """The server's recoverable window as the stores hold it now."""
    archive = WalArchive(server, stores, keyring)
    return recovery_window(archive, list_base_backups_in_stores(server, stores))
