"""The demo's protected PostgreSQL server: `make up` runs one of its own for [servers.demo]
(the protected demo apps' databases live there), because point-in-time recovery needs a
server that allows replication connections and a machine's own PostgreSQL often does not
(pg_hba.conf without `replication` lines). initdb gives it trust for local replication;
`max_slot_wal_keep_size` bounds what the demo slot can make it keep while the streamer is
down. Its data directory sits in the system temporary directory (the server runs as the
binaries' owner under root, which must reach it), named after the checkout; `make down`
stops it and keeps its data.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path

from dr_assets.core.errors import ToolError
from dr_assets.core.pg.binaries import binary_major
from dr_assets.core.pg.command import ToolFailed, last_lines, run
from dr_assets.core.pg.instance import as_user, server_bindir, server_user
from dr_assets.core.policy import DRConfig, ServerPolicy
from dr_assets.devstack.net import listening
from dr_assets.devstack.report import Report, UpError
from dr_assets.devstack.state import Paths

DEMO_SERVER = "demo"
LOCAL_HOSTS = ("127.0.0.1", "localhost")
SETTINGS = ("-c listen_addresses=127.0.0.1 -c wal_level=replica -c max_wal_senders=10 "
            "-c max_slot_wal_keep_size=1GB")


def demo_server(config: DRConfig) -> ServerPolicy | None:
    """[servers.demo] when it points at a local port nothing else serves by default."""
    server = config.servers.get(DEMO_SERVER)
    if server is None or server.conninfo.host not in LOCAL_HOSTS or server.conninfo.port == 5432:
        return None
    return server


def data_root(paths: Paths) -> Path:
    digest = hashlib.sha256(str(paths.root.resolve()).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"dr-demo-server-{digest}"


def _bindir() -> Path:
    on_path = shutil.which("pg_ctl")
    major = binary_major(on_path) if on_path else 15
    return server_bindir(major)


def _run(user: str | None, argv: list[str], what: str) -> None:
    try:
        run(as_user(user, argv))
    except ToolFailed as exc:
        raise UpError(f"the demo PostgreSQL server: {what} failed: {last_lines(exc.stderr)}"
                      ) from None


def ensure_demo_server(config: DRConfig, paths: Paths, report: Report) -> None:
    server = demo_server(config)
    if server is None:
        return
    port = server.conninfo.port
    label = f"postgres {DEMO_SERVER}"
    if listening(port):
        return
    try:
        bindir = _bindir()
        user = server_user(bindir)
    except ToolError as exc:
        raise UpError(f"the demo PostgreSQL server for [servers.{DEMO_SERVER}]: {exc}") from None
    root = data_root(paths)
    data = root / "data"
    if not (data / "PG_VERSION").exists():
        root.mkdir(mode=0o755, exist_ok=True)
        if user:
            shutil.chown(root, user)
        _run(user, [str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
                    "-E", "UTF8", "--locale", "C.UTF-8"], "initdb")
        report.change(label, f"initialized {data}")
    _run(user, [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "server.log"), "-o",
                f"-p {port} -k {root} {SETTINGS}", "-w", "-t", "60", "start"], "start")
    report.change(label, f"started on 127.0.0.1:{port} (data in {data})")


def stop_demo_server(config: DRConfig, paths: Paths) -> str | None:
    """Stop the demo server when it runs; what was done, in words."""
    server = demo_server(config)
    data = data_root(paths) / "data"
    if server is None or not (data / "postmaster.pid").exists():
        return None
    bindir = _bindir()
    run(as_user(server_user(bindir), [str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast",
                                      "-w", "stop"]))
    return f"demo PostgreSQL server (127.0.0.1:{server.conninfo.port}; data kept in {data})"
