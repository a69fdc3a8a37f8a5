"""The registry of long-running processes that `make up` starts and `make down` stops.

Every service is started in its own session (`state.spawn`, start_new_session=True), so
its PID is also its process group: the code servers that dagster-webserver and
dagster-daemon spawn, and the run workers of Dagster runs, live in that group. `make
down` stops the whole group (SIGTERM, then SIGKILL) and waits until no member is left,
in the reverse order of SERVICES.

To manage a new service: start it in `up.py` (or `dagster_stack.py`) with
`state.spawn(run, NAME, argv, log=..., cwd=...)` and add an entry here.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dr_assets.devstack.state import ProcessRecord, process_cmdline


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of process group PGID."""
    proc = Path("/proc")
    if (proc / "self").exists():
        members = []
        for entry in proc.iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            # after the command: state, ppid, pgrp, session, ...
            if len(fields) > 2 and fields[2] == str(pgid) and fields[0] not in ("Z", "X"):
                members.append(int(entry.name))
        return sorted(members)
    try:  # no /proc (macOS): ask ps
        out = subprocess.run(["ps", "-A", "-o", "pid=,pgid=,stat="], capture_output=True,
                             text=True, check=False).stdout
    except OSError:
        return []
    found = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[1] == str(pgid) and not parts[2].startswith("Z"):
            found.append(int(parts[0]))
    return sorted(found)


def _reap(pid: int) -> None:
    """Collect PID if it is our child (seaweed.start's callers); others' zombies are not ours."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def stop_group(pid: int, timeout: float = 20) -> None:
    """Stop the process group PID (a service started in its own session and everything it
    spawned): SIGTERM, wait up to TIMEOUT seconds for every member to exit, then SIGKILL.

    The kernel does not reuse a PID as long as a process group of that number has members,
    so the members of group PID are ours even when the leader itself is already gone."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    except PermissionError:
        raise RuntimeError(f"not allowed to signal process group {pid}") from None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(pid)
        if not group_members(pid):
            return
        time.sleep(0.2)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and group_members(pid):
        _reap(pid)
        time.sleep(0.1)
    _reap(pid)


def orphans(rec: ProcessRecord) -> list[int]:
    """Members of the process group of a service whose leader is gone (say a code server
    left behind by a webserver that crashed). While such a group has members the kernel
    does not hand its number out as a PID, so they are ours; when the PID runs another
    program, the group of our service had ended before the number was reused."""
    if process_cmdline(rec.pid) is not None:
        return []
    return group_members(rec.pid)


@dataclass(frozen=True)
class ManagedProcess:
    name: str                                   # PID file: .dr/run/<name>.pid
    title: str                                  # what the messages call it
    stop: Callable[[int], None] = stop_group    # SIGTERM to its process group, then SIGKILL


SEAWEED = ManagedProcess("seaweed", "SeaweedFS (S3)")
WEBSERVER = ManagedProcess("dagster-webserver", "Dagster webserver")
DAEMON = ManagedProcess("dagster-daemon", "Dagster daemon")
API = ManagedProcess("api", "GraphQL API")

# In start order; `make down` stops them last first.
SERVICES: tuple[ManagedProcess, ...] = (SEAWEED, WEBSERVER, DAEMON, API)


WAL_STREAMER_PREFIX = "wal-stream-"


def wal_streamer(server: str) -> ManagedProcess:
    """The WAL streamer of one [servers.NAME] (`drctl wal stream NAME`), one per server."""
    return ManagedProcess(f"{WAL_STREAMER_PREFIX}{server}", f"WAL streamer of server {server}")


def lookup(name: str) -> ManagedProcess:
    """The registered service NAME, or a generic one for a PID file we do not know."""
    for service in SERVICES:
        if service.name == name:
            return service
    if name.startswith(WAL_STREAMER_PREFIX):
        return wal_streamer(name.removeprefix(WAL_STREAMER_PREFIX))
    return ManagedProcess(name, name)


def stop_order(names: list[str]) -> list[str]:
    """Registered services last first, then any unknown PID files."""
    known = [s.name for s in reversed(SERVICES) if s.name in names]
    return known + sorted(n for n in names if n not in known)
