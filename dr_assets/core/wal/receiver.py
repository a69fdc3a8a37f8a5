"""PostgreSQL's own pg_receivewal as the streamer's child: started through the server's
slot into the spool's incoming directory, dying with its parent (PR_SET_PDEATHSIG on
Linux, so a streamer killed with SIGKILL leaves no pg_receivewal behind), restarted with a
growing pause when it exits, and stopped cleanly (SIGINT: it closes its files and keeps
the .partial) when the streamer stops."""

from __future__ import annotations

import collections
import ctypes
import ctypes.util
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from dr_assets.core.pg.conninfo import ConnInfo

PR_SET_PDEATHSIG = 1
MAX_BACKOFF = 30.0
STEADY_SECONDS = 60.0  # a child that ran this long resets the backoff

log = logging.getLogger("dr_assets.wal.receiver")


def die_with_parent() -> Callable[[], None]:
    """A preexec function: the child gets SIGINT when the process that started it ends."""
    parent = os.getpid()
    libc_name = ctypes.util.find_library("c") if sys.platform.startswith("linux") else None

    def preexec() -> None:
        if libc_name is None:
            return
        libc = ctypes.CDLL(libc_name, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGINT, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


def conninfo_string(info: ConnInfo, application_name: str) -> str:
    """A libpq keyword string for -d (the password stays in the environment)."""
    def quote(v: str) -> str:
        return "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'"

    parts = {"host": info.host, "port": str(info.port), "user": info.user,
             "application_name": application_name}
    parts.update({k: v for k, v in info.params if k != "application_name"})
    return " ".join(f"{k}={quote(v)}" for k, v in parts.items())


class Receiver:
    """One pg_receivewal at a time for one server."""

    def __init__(self, binary: str, directory: Path, slot: str, info: ConnInfo,
                 application_name: str) -> None:
        self.argv = [binary, "-D", str(directory), "-S", slot, "--no-loop", "-n",
                     "-d", conninfo_string(info, application_name)]
        self.env = info.tool_env()
        self.proc: subprocess.Popen[bytes] | None = None
        self.lines: collections.deque[str] = collections.deque(maxlen=20)
        self.started_at = 0.0
        self.backoff = 1.0
        self.next_start = 0.0
        self.exits = 0
        self._reader: threading.Thread | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    def start(self) -> None:
        self.lines.clear()
        self.proc = subprocess.Popen(self.argv, env=self.env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     preexec_fn=die_with_parent())
        self.started_at = time.monotonic()
        self._reader = threading.Thread(target=self._drain, args=(self.proc,), daemon=True,
                                        name="pg_receivewal-stderr")
        self._reader.start()
        log.info("pg_receivewal started (pid %s)", self.proc.pid)

    def _drain(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            line = raw.decode(errors="replace").rstrip()
            if line:
                self.lines.append(line)
                log.info("pg_receivewal: %s", line)

    def keep_running(self) -> None:
        """Start it if it is not running and its pause is over; log why it last exited."""
        now = time.monotonic()
        if self.proc is not None:
            code = self.proc.poll()
            if code is None:
                return
            self._join()
            ran = now - self.started_at
            self.exits += 1
            self.backoff = 1.0 if ran >= STEADY_SECONDS else min(self.backoff * 2, MAX_BACKOFF)
            why = self.lines[-1] if self.lines else "no message"
            log.warning("pg_receivewal exited with code %s after %.0f s (%s); restarting in "
                        "%.0f s", code, ran, why, self.backoff)
            self.proc = None
            self.next_start = now + self.backoff
        if now >= self.next_start:
            self.start()

    def _join(self) -> None:
        if self._reader is not None:
            self._reader.join(timeout=2)
            self._reader = None

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGINT (pg_receivewal flushes and closes its files), then SIGKILL after TIMEOUT."""
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("pg_receivewal (pid %s) did not stop in %.0f s: killed", proc.pid,
                            timeout)
                proc.kill()
                proc.wait()
        self._join()
        return proc.returncode
