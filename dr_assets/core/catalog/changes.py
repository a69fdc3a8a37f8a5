"""The catalog's change feed: a counter that moves whenever a write to the catalog commits.

Migration 5 makes every statement that writes a catalog table NOTIFY `dr_catalog_changed`.
A ChangeFeed LISTENs on its own connection, in a thread, and bumps `generation` for each
notification. A reader that caches answers tags them with the generation they were computed
at and drops them when it moves, so a finished backup shows on the next dashboard refresh
rather than when a timer runs out. A reader may ignore some tables (`ignore`): the API
ignores the audit log, which every refused call writes and no answer it keeps reads, the
launch tickets runs use (read by none), and the slot samples the alert sensor writes every
minute (read only by the forecasts, which keep their own minute).

The generation also moves when the feed (re)connects, since what was written while it was
away is unknown; while it is disconnected it cannot tell, so caches must keep a time limit
of their own as well.
"""

from __future__ import annotations

import os
import select
import threading

import psycopg2

from dr_assets.core.catalog.schema import CHANGE_CHANNEL
from dr_assets.core.errors import ToolError
from dr_assets.core.pg.conninfo import ConnInfo
from dr_assets.core.pg.sessions import connect


class ChangeFeed:
    def __init__(self, info: ConnInfo, retry_seconds: float = 1.0,
                 ignore: frozenset[str] = frozenset()) -> None:
        self.info = info
        self.ignore = ignore  # tables whose writes do not move the generation
        self.retry_seconds = retry_seconds
        self.generation = 0
        self.connected = False
        self.notifications = 0
        self._stop = threading.Event()
        self._wake_r, self._wake_w = os.pipe()
        self._thread: threading.Thread | None = None
        self._listening = threading.Event()

    def start(self, wait_seconds: float = 5.0) -> ChangeFeed:
        """Start listening; waits (up to `wait_seconds`) until the LISTEN is in place."""
        self._thread = threading.Thread(target=self._run, name="dr-catalog-changes", daemon=True)
        self._thread.start()
        self._listening.wait(wait_seconds)
        return self

    def stop(self) -> None:
        self._stop.set()
        os.write(self._wake_w, b"x")
        if self._thread is not None:
            self._thread.join(timeout=5)
        os.close(self._wake_r)
        os.close(self._wake_w)

    def _bump(self) -> None:
        self.generation += 1  # only this thread writes it; readers compare for equality

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn = connect(self.info)
            except ToolError:
                self._stop.wait(self.retry_seconds)
                continue
            try:
                conn.autocommit = True
                with conn.cursor() as cur:
                    cur.execute(f"LISTEN {CHANGE_CHANNEL}")
                self.connected = True
                self._bump()
                self._listening.set()
                self._listen(conn)
            except (psycopg2.Error, OSError):
                pass
            finally:
                self.connected = False
                self._bump()
                conn.close()
            self._stop.wait(self.retry_seconds)

    def _listen(self, conn: psycopg2.extensions.connection) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([conn.fileno(), self._wake_r], [], [], 30.0)
            if self._wake_r in ready:
                return
            conn.poll()  # also notices a dead server (raises OperationalError)
            if conn.notifies:
                self.notifications += len(conn.notifies)
                moved = any(n.payload not in self.ignore for n in conn.notifies)
                conn.notifies.clear()
                if moved:
                    self._bump()
            elif not ready:
                with conn.cursor() as cur:  # idle for 30 s: make sure the server is there
                    cur.execute("SELECT 1")
