"""Shared fault-injection helpers: big tables, child processes to kill, an S3 to stop, a
server that never answers."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from pathlib import Path

from dr_assets.devstack import seaweed
from tests.support.env import BUCKET
from tests.support.pg import run_sql


def fill(db: str, rows: int) -> None:
    """Enough poorly compressible data that the dump spans several S3 parts."""
    run_sql(db, f"""
        CREATE TABLE events (id bigint PRIMARY KEY, payload text, doc jsonb);
        INSERT INTO events SELECT g, md5(g::text) || md5((g * 7)::text) || md5(random()::text),
                                  jsonb_build_object('g', g, 'r', random())
        FROM generate_series(1, {rows}) g;
    """)


def children_named(name: str) -> list[int]:
    me = str(os.getpid())
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        ppid = stat[stat.rindex(")") + 2 :].split()[1]
        if comm == name and ppid == me:
            found.append(int(pid))
    return found


class OwnS3:
    """A SeaweedFS of one test's own, so stopping it does not disturb the others."""

    def __init__(self, data_dir: Path) -> None:
        self.server = seaweed.start(data_dir, buckets=(BUCKET,))

    def stop(self) -> None:
        seaweed.stop(self.server.pid)

    def restart(self) -> None:
        """Same ports and data directory, as after an outage."""
        self.server = seaweed.start(self.server.data_dir, base_port=self.server.s3_port,
                                    buckets=(BUCKET,))


class SilentListener:
    """A TCP port that accepts connections and never sends a byte (a hung HTTP server);
    `accepted` counts the connections."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.accepted = 0
        self._held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:  # closed
                return
            self._held.append(conn)
            self.accepted += 1

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
        self.sock.close()
        for conn in self._held:
            conn.close()
