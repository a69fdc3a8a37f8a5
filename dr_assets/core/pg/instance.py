"""Throwaway PostgreSQL servers: initdb into a private temporary directory, a free port on
127.0.0.1, the binaries of a given major version, removed whatever happens.

Isolated drills, point-in-time recovery and server-level restores run against one. The
server refuses to run as root, so under root it runs as the operating-system user owning
the binaries. Each instance's directory carries a marker naming the process that started
it; `remove_orphans` stops and removes those whose starter is gone (killed with SIGKILL,
say), and never one whose starter still runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shlex
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from dr_assets.core.errors import ToolError
from dr_assets.core.pg.binaries import PG_LIB, binary_major
from dr_assets.core.pg.command import ToolFailed, last_lines, run
from dr_assets.core.pg.conninfo import ConnInfo

PREFIX = "dr-instance-"
MARKER = "dr-instance.json"
START_ATTEMPTS = 3
START_TIMEOUT_SECONDS = 60


def server_bindir(major: int, bindir: Path | None = None) -> Path:
    """The directory of initdb and pg_ctl of exactly this major version."""
    if bindir is not None:
        candidates = [bindir]
    else:
        candidates = [PG_LIB / str(major) / "bin"]
        on_path = shutil.which("pg_ctl")
        if on_path:
            candidates.append(Path(on_path).resolve().parent)
    for directory in candidates:
        initdb = directory / "initdb"
        if initdb.exists() and (directory / "pg_ctl").exists() and binary_major(str(initdb)) == major:
            return directory
    raise ToolError(
        f"no PostgreSQL {major} server binaries (initdb, pg_ctl) in "
        f"{', '.join(str(c) for c in candidates)}: install postgresql-{major} or set the "
        "server binaries directory"
    )


def server_user(bindir: Path) -> str | None:
    """The user to run the server as: None when not root, else the owner of the binaries
    (or `postgres` when root owns them, as Debian packages do)."""
    if os.geteuid() != 0:
        return None
    owner = (bindir / "initdb").stat().st_uid
    if owner != 0:
        return pwd.getpwuid(owner).pw_name
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise ToolError("running as root and no `postgres` user exists to run a throwaway "
                        "PostgreSQL server: create one or run the control plane as a normal "
                        "user") from None
    return "postgres"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _process_start(pid: int) -> str | None:
    """The start time of a process in clock ticks since boot: with the pid, it names one
    process even after the pid is reused."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


@dataclass
class ThrowawayInstance:
    """A running (or stopped) server in its own directory; use `throwaway_instance`."""

    root: Path
    bindir: Path
    major: int
    port: int = 0
    os_user: str | None = None
    settings: Mapping[str, str] = field(default_factory=dict)
    started_in_seconds: float = 0.0

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def conninfo(self) -> ConnInfo:
        return ConnInfo(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres")

    def _run(self, args: Sequence[str]) -> str:
        return run(as_user(self.os_user, args), cwd=self.root)

    def _checked(self, what: str, args: Sequence[str]) -> None:
        try:
            self._run(args)
        except ToolFailed as exc:
            raise ToolError(f"throwaway PostgreSQL {self.major}: {what} failed (exit "
                            f"{exc.exit_code}): {exc.last_lines}") from None

    def init(self) -> None:
        self._checked("initdb", [str(self.bindir / "initdb"), "-D", str(self.data_dir), "-A",
                                 "trust", "-U", "postgres", "--no-sync", "-E", "UTF8",
                                 "--locale", "C.UTF-8"])

    def start(self) -> None:
        t0 = time.monotonic()
        last_error = ""
        for _ in range(START_ATTEMPTS):
            self.port = free_port()
            options = [f"-p {self.port}", f"-k {self.root}", "-c listen_addresses=127.0.0.1",
                       "-c wal_level=replica"]
            # pg_ctl hands the options to a shell: values with spaces or quotes (a
            # restore_command) go through quoted.
            options += [f"-c {shlex.quote(f'{k}={v}')}" for k, v in self.settings.items()]
            try:
                self._run([str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), "-l",
                           str(self.root / "server.log"), "-o", " ".join(options), "-w",
                           "-t", str(START_TIMEOUT_SECONDS), "start"])
            except ToolFailed as exc:
                last_error = self.server_log_tail() or exc.stderr
            else:
                self.started_in_seconds = time.monotonic() - t0
                self._write_marker()
                return
            if "could not bind" not in last_error and "in use" not in last_error:
                break  # another process took the port between our probe and the bind
        raise ToolError(f"throwaway PostgreSQL {self.major} did not start: "
                        f"{last_lines(last_error)}")

    def server_log_tail(self) -> str:
        try:
            return (self.root / "server.log").read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def _write_marker(self) -> None:
        marker = {"owner_pid": os.getpid(), "owner_start": _process_start(os.getpid()),
                  "created_at": datetime.now(UTC).isoformat(), "port": self.port,
                  "major": self.major, "bindir": str(self.bindir), "os_user": self.os_user}
        (self.root / MARKER).write_text(json.dumps(marker))

    def stop(self) -> None:
        """Stop the server (immediately: nothing in it is kept) and remove its directory."""
        stop_and_remove(self.root, self.bindir, self.os_user)


def stop_and_remove(root: Path, bindir: Path | None, os_user: str | None) -> None:
    pid_file = root / "data" / "postmaster.pid"
    if pid_file.exists() and bindir is not None:
        with contextlib.suppress(ToolError):  # not running, or stuck: the kill below decides
            run(as_user(os_user, [str(bindir / "pg_ctl"), "-D", str(root / "data"), "-m",
                                  "immediate", "-w", "-t", "30", "stop"]), cwd=root)
    _kill_postmaster(root)
    shutil.rmtree(root, ignore_errors=True)


def _kill_postmaster(root: Path) -> None:
    """Last resort when pg_ctl could not stop it: SIGKILL the postmaster named in its pid
    file, but only if that process really serves this directory."""
    try:
        pid = int((root / "data" / "postmaster.pid").read_text().splitlines()[0])
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (OSError, ValueError, IndexError):
        return
    if str(root / "data") in cmdline:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        for _ in range(100):
            if not Path(f"/proc/{pid}").exists():
                break
            time.sleep(0.05)


Prepare = Callable[[ThrowawayInstance], None]


def instances_dir(parent: Path | None = None) -> Path:
    return parent if parent is not None else Path(tempfile.gettempdir())


@contextlib.contextmanager
def throwaway_instance(major: int, *, parent: Path | None = None, bindir: Path | None = None,
                       settings: Mapping[str, str] | None = None, prepare: Prepare | None = None,
                       start: bool = True) -> Iterator[ThrowawayInstance]:
    """A started server of this major version, stopped and removed when the block ends,
    however it ends. Orphans of earlier, killed owners are removed first.

    `prepare` fills the data directory instead of initdb (a base backup to recover, say):
    it gets the instance with its directory made and owned by the server's user, and the
    data directory not yet there. `start=False` leaves starting to the caller."""
    directory = instances_dir(parent)
    remove_orphans(directory)
    binaries = server_bindir(major, bindir)
    user = server_user(binaries)
    root = Path(tempfile.mkdtemp(prefix=PREFIX, dir=directory))
    instance = ThrowawayInstance(root=root, bindir=binaries, major=major, os_user=user,
                                 settings=dict(settings or {}))
    try:
        (root / MARKER).write_text(json.dumps({"owner_pid": os.getpid(),
                                               "owner_start": _process_start(os.getpid())}))
        if user:
            shutil.chown(root, user)
            _check_reachable(root, user)
        if prepare is None:
            instance.init()
        else:
            prepare(instance)
        if start:
            instance.start()
        yield instance
    finally:
        instance.stop()


def as_user(user: str | None, argv: Sequence[str]) -> list[str]:
    """argv run as `user` (the server refuses root), or as it is when not root."""
    return ["runuser", "-u", user, "--", *argv] if user else list(argv)


def _check_reachable(root: Path, user: str) -> None:
    try:
        run(as_user(user, ["test", "-w", str(root)]))
    except ToolFailed:
        raise ToolError(f"the PostgreSQL server user {user} cannot reach {root.parent}: put "
                        "throwaway instances in a directory every user can traverse (the "
                        "system temporary directory by default)") from None


def _owner_alive(marker: dict[str, object]) -> bool:
    pid = marker.get("owner_pid")
    if not isinstance(pid, int):
        return False
    start = _process_start(pid)
    return start is not None and start == marker.get("owner_start")


def remove_orphans(parent: Path | None = None) -> list[Path]:
    """Stop and remove every throwaway instance under `parent` whose starting process is
    gone. A directory is ours only if it has our prefix and our marker; others are left."""
    removed: list[Path] = []
    for root in sorted(instances_dir(parent).glob(f"{PREFIX}*")):
        try:
            marker = json.loads((root / MARKER).read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(marker, dict) or _owner_alive(marker):
            continue
        bindir = marker.get("bindir")
        user = marker.get("os_user")
        stop_and_remove(root, Path(bindir) if isinstance(bindir, str) else None,
                        user if isinstance(user, str) else None)
        removed.append(root)
    return removed
