"""Point-in-time recovery tests' helpers: the WAL streamer running beside a test, a base
backup of the protected test server, rows an insert loop writes around a pause, and the
ticks a recovered server holds."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from dr_assets.core.format.base_backup import BaseBackupManifest
from dr_assets.core.runtime import DRRuntime
from dr_assets.core.wal.archive import WalArchive
from dr_assets.core.wal.base_backup import run_base_backup
from dr_assets.core.wal.chain import held_names
from dr_assets.core.wal.streamer import WalStreamer
from tests.support.pg import run_sql
from tests.support.pitr import PitrEnv


@contextmanager
def streaming(env: PitrEnv) -> Iterator[WalStreamer]:
    """The server's WAL streamed into the archive while the block runs."""
    rt = env.env.runtime()
    streamer = WalStreamer(rt.config, "main", keyring=rt.keyring, stores=rt.stores,
                           catalog=rt.catalog)
    stop = threading.Event()
    thread = threading.Thread(target=streamer.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield streamer
    finally:
        stop.set()
        thread.join(timeout=30)


def base_backup(env: PitrEnv) -> BaseBackupManifest:
    rt = env.env.runtime()
    return run_base_backup(rt.config, "main", keyring=rt.keyring, stores=rt.stores,
                           catalog=rt.catalog)


def switch_wal(env: PitrEnv) -> str:
    """Close the current segment; the name of the segment closed."""
    return str(env.sql("SELECT pg_walfile_name(pg_switch_wal())", "postgres")[0][0])


def tick(env: PitrEnv, n: int, note: str, pause: float = 0.005) -> None:
    """N rows, each its own transaction, stamped with clock_timestamp()."""
    for _ in range(n):
        env.sql(f"INSERT INTO ticks (note) VALUES ('{note}')")
        time.sleep(pause)


def rows_of(env: PitrEnv) -> list[tuple[int, datetime, str]]:
    return [(int(str(r[0])), r[1], str(r[2])) for r in  # type: ignore[misc]
            env.sql("SELECT id, at, note FROM ticks ORDER BY id")]


def ticks_on(port: int, db: str = "shop") -> list[tuple[int, datetime, str]]:
    rows = run_sql(db, "SELECT id, at, note FROM ticks ORDER BY id",
                   server=f"postgresql://postgres@127.0.0.1:{port}")
    return [(int(str(r[0])), r[1], str(r[2])) for r in rows]  # type: ignore[misc]


@dataclass(frozen=True)
class Pause:
    """The middle of a pause in the insert loop: every row before it committed before it."""

    moment: datetime
    before: int  # rows written before the pause


def rows_around_a_pause(env: PitrEnv, n: int = 20, pause: float = 1.5) -> Pause:
    tick(env, n, "before")
    time.sleep(pause)
    tick(env, n, "after")
    rows = rows_of(env)
    last = max(r[1] for r in rows if r[2] == "before")
    first = min(r[1] for r in rows if r[2] == "after")
    return Pause(last + (first - last) / 2, sum(1 for r in rows if r[2] == "before"))


def until_held(rt: DRRuntime, names: set[str], timeout: float = 30.0) -> None:
    """Wait until every store holds the named WAL files."""
    archive = WalArchive("main", rt.stores, rt.keyring)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(names <= set(archive.names(s)) for s in rt.stores):
            return
        time.sleep(0.2)
    raise AssertionError(f"the stores never held {sorted(names - held_names(archive))}")


def current_segment(env: PitrEnv) -> str:
    return str(env.sql("SELECT pg_walfile_name(pg_current_wal_lsn())", "postgres")[0][0])
