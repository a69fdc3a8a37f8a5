"""PostgreSQL's restore_command during a recovery: a small service in the recovering process
that reads, verifies and decrypts WAL from the stores, and the stdlib-only script the
server runs to ask it for one file.

The recovering server runs as the server's user, which must not read the keyring or the
config, so the script holds no secret: it sends the file name over a Unix socket in the
instance directory (reachable by the server's user only), and the service answers with the
path of a verified, decrypted copy it staged in a directory of the server's user, which
the script renames onto %p (the same file system: atomic; else copied to a temporary name
beside %p first). Answers:

    OK <path>        the file, staged (a segment asked for whose partial is all that is
                     held gets the partial: full-size and zero-padded, what PostgreSQL reads)
    MISSING          not held (PostgreSQL probes history files that do not exist): exit 1
    FAILED <why>     a file the chain needs has no good copy in any store: exit 126, which
                     PostgreSQL treats as fatal, so recovery stops there instead of taking
                     the end of good WAL for the end of WAL

The next few segments of the chain are fetched ahead in background threads while
PostgreSQL replays the current one. What was served from which store, every bad copy met
and the file that stopped recovery are kept in `report`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from dr_assets.core.errors import DRError, StoreError, ToolError, WalMissing
from dr_assets.core.pg.command import ToolFailed, run
from dr_assets.core.pg.instance import as_user
from dr_assets.core.pg.wal_names import PARTIAL_SUFFIX, is_segment_name
from dr_assets.core.wal.archive import Fetched, WalArchive

SOCKET_NAME = "wal-fetch.sock"
SCRIPT_NAME = "wal_fetch.py"
STAGING_NAME = "wal-staging"
PREFETCH = 3
FATAL_EXIT = 126  # PostgreSQL aborts recovery when restore_command exits above 125

SCRIPT = '''"""restore_command of a DR control plane recovery: asks the recovering process for one
WAL file (the process reads and verifies it from the stores) and puts it at %p."""
import os
import shutil
import socket
import sys

SOCKET = {socket!r}


def main(name, dest):
    dest = os.path.abspath(dest)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(SOCKET)
        s.sendall((name + "\\n").encode())
        answer = b""
        while not answer.endswith(b"\\n"):
            block = s.recv(65536)
            if not block:
                break
            answer += block
    word, _, rest = answer.decode().strip().partition(" ")
    if word == "OK":
        try:
            os.rename(rest, dest)
        except OSError:
            tmp = dest + ".dr-tmp"
            shutil.copyfile(rest, tmp)
            os.rename(tmp, dest)
            os.unlink(rest)
        return 0
    if word == "MISSING":
        return 1
    sys.stderr.write("restore_command: %s: %s\\n" % (name, rest or "no answer"))
    return {fatal}


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
'''


@dataclass
class FetchReport:
    """What the restore_command served during one recovery."""

    served: dict[str, str] = field(default_factory=dict)  # file -> store it came from
    partials: list[str] = field(default_factory=list)  # segments served from their partial
    bad_copies: dict[str, dict[str, str]] = field(default_factory=dict)  # file -> store -> why
    missing: list[str] = field(default_factory=list)  # asked for, not held (probes included)
    failed: dict[str, str] = field(default_factory=dict)  # needed, no good copy: stopped there
    fetched_bytes: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"served": dict(self.served), "partials": list(self.partials),
                "bad_copies": {k: dict(v) for k, v in self.bad_copies.items()},
                "missing": list(self.missing), "failed": dict(self.failed),
                "fetched_bytes": self.fetched_bytes}


class WalFetchService:
    """Serves one recovery's restore_command from `archive`; `needed` is the chain of files
    recovery reads (window.chain.names), whose absence is fatal rather than the end of WAL.
    Use as a context manager; `restore_command` is the setting to pass to the server."""

    def __init__(self, archive: WalArchive, directory: Path, needed: list[str], *,
                 os_user: str | None = None, prefetch: int = PREFETCH) -> None:
        self.archive = archive
        self.directory = directory
        self.os_user = os_user
        self.prefetch = prefetch
        self.order = [n.removesuffix(PARTIAL_SUFFIX) for n in needed]
        self.needed = set(self.order)
        self.report = FetchReport()
        self._lock = threading.Lock()
        self._pending: dict[str, Future[Path | None]] = {}
        self._pool = ThreadPoolExecutor(max_workers=max(prefetch, 1), thread_name_prefix="wal-fetch")
        self._socket: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._closing = threading.Event()

    @property
    def socket_path(self) -> Path:
        return self.directory / SOCKET_NAME

    @property
    def script_path(self) -> Path:
        return self.directory / SCRIPT_NAME

    @property
    def staging(self) -> Path:
        return self.directory / STAGING_NAME

    @cached_property
    def restore_command(self) -> str:
        return f'"{server_python(self.os_user)}" "{self.script_path}" "%f" "%p"'


    def __enter__(self) -> WalFetchService:
        self.staging.mkdir(mode=0o700)
        self._own(self.staging)
        self.script_path.write_text(SCRIPT.format(socket=str(self.socket_path), fatal=FATAL_EXIT))
        self.script_path.chmod(0o644)
        self.socket_path.unlink(missing_ok=True)
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(str(self.socket_path))
        self.socket_path.chmod(0o600)
        self._own(self.socket_path)
        server.listen(16)
        self._socket = server
        self._thread = threading.Thread(target=self._serve, name="wal-fetch-service", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._closing.set()
        if self._socket is not None:
            with contextlib.suppress(OSError):
                self._socket.shutdown(socket.SHUT_RDWR)
            self._socket.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.socket_path.unlink(missing_ok=True)
        shutil.rmtree(self.staging, ignore_errors=True)

    def _own(self, path: Path) -> None:
        if self.os_user is not None:
            shutil.chown(path, self.os_user, self.os_user)

    def _serve(self) -> None:
        assert self._socket is not None
        while not self._closing.is_set():
            try:
                conn, _ = self._socket.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            try:
                request = b""
                while not request.endswith(b"\n"):
                    block = conn.recv(4096)
                    if not block:
                        return
                    request += block
                conn.sendall((self.answer(request.decode().strip()) + "\n").encode())
            except OSError:
                return

    def answer(self, name: str) -> str:
        """One request's answer line (OK path, MISSING, FAILED why)."""
        if "/" in name or not name or name.startswith("."):
            return f"FAILED {name!r} is not a WAL file name"
        try:
            staged = self._take(name)
        except DRError as exc:
            with self._lock:
                self.report.failed[name] = str(exc)
            return f"FAILED {exc}"
        finally:
            self._ahead(name)
        if staged is None:
            return "MISSING"
        return f"OK {staged}"

    def _take(self, name: str) -> Path | None:
        with self._lock:
            future = self._pending.pop(name, None)
            if future is None:
                future = self._pool.submit(self._stage, name)
        return future.result()

    def _ahead(self, name: str) -> None:
        """Start fetching the chain's next files after `name`."""
        if not is_segment_name(name) or name not in self.needed:
            return
        at = self.order.index(name)
        with self._lock:
            for following in self.order[at + 1:at + 1 + self.prefetch]:
                if following not in self._pending and following not in self.report.served:
                    self._pending[following] = self._pool.submit(self._stage, following)

    def _stage(self, name: str) -> Path | None:
        """Fetch one file into the staging directory; None when no store holds it (and the
        chain does not need it)."""
        fetched = self._fetch(name)
        if fetched is None:
            return None
        path = self.staging / name
        tmp = self.staging / f".{name}.tmp"
        tmp.write_bytes(fetched.raw)
        self._own(tmp)
        tmp.rename(path)
        return path

    def _fetch(self, name: str) -> Fetched | None:
        try:
            fetched = self.archive.fetch(name)
        except WalMissing as exc:
            if is_segment_name(name):
                partial = self._partial(name)
                if partial is not None:
                    return partial
            if name in self.needed or self._held(name):
                raise WalMissing(f"recovery needs {name}: {exc}") from None
            with self._lock:
                self.report.missing.append(name)
            return None
        self._record(name, fetched)
        return fetched

    def _partial(self, name: str) -> Fetched | None:
        try:
            fetched = self.archive.fetch(name + PARTIAL_SUFFIX)
        except WalMissing:
            return None
        self._record(name, fetched)
        with self._lock:
            self.report.partials.append(name)
        return fetched

    def _held(self, name: str) -> bool:
        """Whether some store holds a copy (so the one it holds is bad, not absent)."""
        for store in self.archive.stores:
            with contextlib.suppress(StoreError):
                if store.size(self.archive.key(name)) is not None:
                    return True
        return False

    def _record(self, name: str, fetched: Fetched) -> None:
        with self._lock:
            self.report.served[name] = fetched.store
            self.report.fetched_bytes += len(fetched.raw)
            if fetched.bad_copies:
                self.report.bad_copies.setdefault(fetched.name, {}).update(fetched.bad_copies)


def server_python(os_user: str | None) -> str:
    """A Python the server's user may run (the script needs the standard library only):
    this process's own, unless it lives where that user cannot reach (a private home),
    then the system's."""
    candidates = [os.path.realpath(sys.executable)]
    system = shutil.which("python3", path=os.defpath)
    if system:
        candidates.append(os.path.realpath(system))
    for python in candidates:
        if os_user is None:
            return python
        with contextlib.suppress(ToolFailed):
            run(as_user(os_user, [python, "-c", ""]))
            return python
    raise ToolError(f"no Python the server user {os_user} may run for the restore_command "
                    f"(tried {', '.join(candidates)}): install python3 for every user")


@contextlib.contextmanager
def fetch_service(archive: WalArchive, directory: Path, needed: list[str], *,
                  os_user: str | None = None) -> Iterator[WalFetchService]:
    with WalFetchService(archive, directory, needed, os_user=os_user) as service:
        yield service
