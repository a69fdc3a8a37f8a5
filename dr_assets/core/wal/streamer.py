"""The WAL streamer of one server: pg_receivewal through the server's slot into the spool,
and a loop that every `partial_upload_seconds` puts what it received into every store.

- Completed segments and history files go through WalArchive.put (sealed with the keyring,
  immutable), are recorded in the catalog, and leave the spool once every store holds
  them. A store that is down is skipped for a while and caught up from the spool.
- The segment being received (.partial) is put again whenever it grew, so the newest WAL
  is off the server within seconds.
- A store holding different bytes under a completed name is a `wal_conflict` alert; its
  copy is never overwritten and the spooled file stays.
- Every minute the slot's retained WAL is watched (slot_watch); every
  `restore_point_minutes` a restore point is recorded (core.wal.restore_points).

- A server whose timeline history does not hold the newest spooled WAL (recovered to an
  earlier moment and promoted, then made the protected server) gets those files parked
  before pg_receivewal starts, which then resumes from the slot on the server's timeline
  (fetching its history file first).

The streamer can be killed at any instant: what a store holds is re-derived from the
spool's records and the stores' own answers (the same bytes again are "already"), and
pg_receivewal resumes after the newest file left in its directory.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import psycopg2

from dr_assets.core.catalog import Catalog
from dr_assets.core.errors import DRError
from dr_assets.core.format.keys import Keyring
from dr_assets.core.format.manifest import iso
from dr_assets.core.format.wal import WalKind
from dr_assets.core.pg.binaries import find_tool
from dr_assets.core.pg.wal_names import DEFAULT_SEGMENT_SIZE, PARTIAL_SUFFIX, history_timeline
from dr_assets.core.policy import DRConfig
from dr_assets.core.stores.base import Store
from dr_assets.core.wal.archive import PutResult, WalArchive, kind_of
from dr_assets.core.wal.preflight import Preflight, application_name, check_server
from dr_assets.core.wal.receiver import Receiver
from dr_assets.core.wal.restore_points import record_restore_point
from dr_assets.core.wal.server_history import read_server_history
from dr_assets.core.wal.slot_watch import (
    CRITICAL,
    WAL_CONFLICT,
    SlotState,
    alert_app,
    read_slot,
    watch_slot,
)
from dr_assets.core.wal.spool import Holding, Spool

SLOT_CHECK_SECONDS = 60.0
STORE_RETRY_SECONDS = 5.0

log = logging.getLogger("dr_assets.wal.streamer")


def timeline_of(name: str) -> int:
    return history_timeline(name) or int(name[:8], 16)


def written_length(raw: bytes) -> int:
    """How far a partial segment's data reaches: its length without the zero padding."""
    return len(raw.rstrip(b"\0"))


class WalStreamer:
    def __init__(self, config: DRConfig, server_name: str, *, keyring: Keyring,
                 stores: list[Store], catalog: Catalog) -> None:
        self.config = config
        self.server = config.server(server_name)
        self.spool = Spool(self.server.spool(config.path.parent))
        self.archive = WalArchive(self.server.name, stores, keyring)
        self.stores = [s.name for s in stores]
        self.catalog = catalog
        self.receiver: Receiver | None = None
        self.slot: SlotState | None = None
        self._partial_sent: dict[str, tuple[str, int]] = {}  # store -> (name, written bytes)
        self._down_until: dict[str, float] = {}
        self._down_why: dict[str, str] = {}
        now = time.monotonic()
        self._next_slot_check = now
        self._next_restore_point = now + self.server.restore_point_minutes * 60

    # -- life cycle ------------------------------------------------------------------------

    def start(self) -> Preflight:
        """Check the server (creating the slot if missing), ship what an earlier run left
        in the spool, and start pg_receivewal."""
        pre = check_server(self.server)
        if pre.slot_created:
            log.info("server %s: created physical replication slot %s", self.server.name,
                     pre.slot)
        self.spool.create()
        self.spool.forget_strays()
        binary = find_tool("pg_receivewal", pre.server_major)
        self.receiver = Receiver(binary, self.spool.incoming, self.server.slot,
                                 self.server.conninfo, application_name(self.server.name))
        self.ship()
        self.park_off_history()
        self.receiver.start()
        return pre

    def park_off_history(self) -> list[str]:
        """Move out of pg_receivewal's sight the spooled WAL the server's history does not
        hold (the server was recovered to an earlier moment and promoted: what its
        predecessor wrote past the switch point), so that it resumes on the server's own
        timeline; the parked files are still shipped."""
        history = read_server_history(self.server.conninfo)
        parked = [n for n in self.spool.receiving()
                  if not history.holds(n, self._size(n))]
        for name in parked:
            self.spool.park(name)
        if parked:
            log.warning("server %s: the server is on timeline %s, whose history does not hold "
                        "%s: kept aside in %s (still shipped), streaming resumes on timeline %s",
                        self.server.name, history.timeline, ", ".join(parked),
                        self.spool.parked, history.timeline)
        return parked

    def _size(self, name: str) -> int:
        """A spooled segment's size (pg_receivewal writes partials full-size too)."""
        try:
            return self.spool.path(name).stat().st_size or DEFAULT_SEGMENT_SIZE
        except FileNotFoundError:
            return DEFAULT_SEGMENT_SIZE

    def tick(self) -> None:
        if self.receiver is not None:
            self.receiver.keep_running()
        self.ship()
        now = time.monotonic()
        if now >= self._next_slot_check:
            self._next_slot_check = now + SLOT_CHECK_SECONDS
            self.check_slot()
        if now >= self._next_restore_point:
            self._next_restore_point = now + self.server.restore_point_minutes * 60
            self.restore_point()

    def run(self, stop: threading.Event, seconds: float | None = None) -> None:
        """Stream until STOP is set (or for SECONDS), then stop pg_receivewal and flush."""
        deadline = None if seconds is None else time.monotonic() + seconds
        self.start()
        try:
            while not stop.is_set():
                self.tick()
                wait = self.server.partial_upload_seconds
                if deadline is not None:
                    wait = min(wait, deadline - time.monotonic())
                    if wait <= 0:
                        break
                stop.wait(wait)
        finally:
            self.stop()

    def stop(self) -> None:
        """Stop pg_receivewal (it closes its files) and put the last of what it wrote."""
        if self.receiver is not None:
            code = self.receiver.stop()
            log.info("server %s: pg_receivewal stopped (exit code %s)", self.server.name, code)
        self._down_until.clear()
        self.ship()

    # -- shipping --------------------------------------------------------------------------

    def ship(self) -> None:
        partials = self.spool.partials()
        for name in [*self.spool.finished(), *partials[:-1]]:
            self._ship_finished(name)
        if partials:
            self._ship_partial(partials[-1])

    def _available(self, wanted: list[str]) -> list[str]:
        now = time.monotonic()
        return [s for s in wanted if self._down_until.get(s, 0.0) <= now]

    def _read(self, name: str) -> tuple[bytes, float] | None:
        path = self.spool.path(name)
        try:
            mtime = path.stat().st_mtime
            return path.read_bytes(), mtime
        except FileNotFoundError:
            return None  # renamed by pg_receivewal between listing and reading

    def _ship_finished(self, name: str) -> None:
        holding = self.spool.holding(name)
        todo = self._available(holding.missing(self.stores))
        if todo:
            got = self._read(name)
            if got is None:
                return
            raw, mtime = got
            written = written_length(raw) if name.endswith(PARTIAL_SUFFIX) else None
            result = self.archive.put(name, raw, only=todo, written_bytes=written,
                                      received_at=iso(datetime.fromtimestamp(mtime, UTC)))
            assert result.header is not None
            if holding.sha256 != result.header.raw_sha256:
                holding = Holding(sha256=result.header.raw_sha256)
            self._note(result)
            new = [s for s in result.held_by if s not in holding.held_by]
            holding.held_by.extend(new)
            if new:
                holding.catalogued = False
            for store, why in result.conflicts.items():
                holding.conflicts[store] = why
                self._alert_conflict(name, store, why)
            self.spool.save(name, holding)
            if kind_of(name) == WalKind.SEGMENT:
                self._drop_stale_partials(name, new)
        if holding.held_by and not holding.catalogued:
            path = self.spool.path(name)
            try:
                raw = path.read_bytes()
                mtime = path.stat().st_mtime
            except FileNotFoundError:
                return
            written = written_length(raw) if name.endswith(PARTIAL_SUFFIX) else None
            holding.catalogued = self._record(name, len(raw), holding.sha256, holding.held_by,
                                              datetime.fromtimestamp(mtime, UTC), written)
            self.spool.save(name, holding)
        if holding.done(self.stores) and name != self.spool.newest_segment():
            self.spool.remove(name)

    def _ship_partial(self, name: str) -> None:
        got = self._read(name)
        if got is None:
            return
        raw = got[0]
        written = written_length(raw)
        if written == 0:
            return
        self._adopt_stored_partial(name)
        behind = [s for s in self.stores
                  if self._partial_sent.get(s, ("", 0))[0] != name
                  or self._partial_sent[s][1] < written]
        todo = self._available(behind)
        if not todo:
            return
        now = datetime.now(UTC)
        result = self.archive.put(name, raw, received_at=iso(now), only=todo,
                                  written_bytes=written)
        self._note(result)
        for store in result.held_by:
            self._partial_sent[store] = (name, written)
        held = [s for s in self.stores if self._partial_sent.get(s) == (name, written)]
        if result.held_by and result.header is not None:
            self._record(name, len(raw), result.header.raw_sha256, held, now, written)

    def _adopt_stored_partial(self, name: str) -> None:
        """A store's copy of this partial from before a restart counts as sent: a
        pg_receivewal that restarted rewrites the segment from its start, and a shorter
        copy must not replace a longer one."""
        for store in self.archive.stores:
            if self._partial_sent.get(store.name, ("", 0))[0] == name:
                continue
            if not self._available([store.name]):
                continue
            header = self.archive.header(store, name)
            if header is not None and header.written_bytes:
                self._partial_sent[store.name] = (name, header.written_bytes)

    def _drop_stale_partials(self, segment: str, stores: list[str]) -> None:
        """Once a store holds a completed segment, its copy of the .partial goes."""
        for store in self.archive.stores:
            if store.name in stores:
                try:
                    self.archive.delete(store, segment + PARTIAL_SUFFIX)
                except DRError as exc:
                    log.info("server %s: could not remove %s%s from %s: %s",
                             self.server.name, segment, PARTIAL_SUFFIX, store.name, exc)

    def _note(self, result: PutResult) -> None:
        """Mark stores that failed as down for a while (logged once), and back up again."""
        now = time.monotonic()
        for store in result.failed:
            why = result.errors.get(store, "failed")
            if store not in self._down_why:
                log.warning("server %s: store %s is failing (%s): spooling, retrying every "
                            "%.0f s", self.server.name, store, why, STORE_RETRY_SECONDS)
            self._down_why[store] = why
            self._down_until[store] = now + STORE_RETRY_SECONDS
        for store in result.held_by:
            if self._down_why.pop(store, None) is not None:
                log.info("server %s: store %s is back: catching up from the spool",
                         self.server.name, store)
            self._down_until.pop(store, None)

    def _alert_conflict(self, name: str, store: str, why: str) -> None:
        message = (f"server {self.server.name}: WAL file {name}: {why}. The received copy "
                   f"stays in {self.spool.path(name)}; compare the two before removing either")
        log.error("%s", message)
        self._catalog_call(lambda: self.catalog.open_alert(
            alert_app(self.server.name), WAL_CONFLICT, CRITICAL, message))

    def _record(self, name: str, size: int, sha: str, held_by: list[str],
                received_at: datetime, written: int | None) -> bool:
        return self._catalog_call(lambda: self.catalog.record_wal_file(
            self.server.name, name, kind_of(name), timeline_of(name), received_at, size, sha,
            held_by, written))

    def _catalog_call(self, call: Callable[[], object]) -> bool:
        try:
            call()
        except (DRError, psycopg2.Error) as exc:
            log.warning("server %s: catalog: %s (retried later)", self.server.name, exc)
            return False
        return True

    # -- watching --------------------------------------------------------------------------

    def check_slot(self) -> SlotState | None:
        try:
            self.slot = read_slot(self.server)
        except (DRError, psycopg2.Error) as exc:
            log.warning("server %s: cannot read the slot's state: %s", self.server.name, exc)
            return None
        state = self.slot
        self._catalog_call(lambda: watch_slot(self.catalog, self.server, state))
        return state

    def restore_point(self) -> None:
        """A restore point with its row counts, what point-in-time drills recover to."""
        try:
            record_restore_point(self.config, self.server.name, self.catalog)
        except (DRError, psycopg2.Error) as exc:
            log.warning("server %s: restore point not recorded: %s", self.server.name, exc)
