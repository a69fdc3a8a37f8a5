"""Throwaway PostgreSQL servers: they start empty on a free port, and nothing of them is
left behind, also when the process that started one is killed with SIGKILL."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from dr_assets.core.errors import ToolError
from dr_assets.core.pg.conninfo import ConnInfo
from dr_assets.core.pg.instance import MARKER, PREFIX, remove_orphans, throwaway_instance
from dr_assets.core.pg.sessions import connection, server_major
from tests.support.pg import PG_URL

MAJOR = server_major(ConnInfo.parse(PG_URL))


@pytest.fixture
def parent() -> Iterator[Path]:
    """A directory of the test's own that the server's user can traverse (pytest's own
    temporary directories are private to root)."""
    path = Path(tempfile.mkdtemp(prefix="drt-instances-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def listening(port: int) -> bool:
    try:
        psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres",
                         connect_timeout=2).close()
    except psycopg2.OperationalError:
        return False
    return True


def postmasters_of(root: Path) -> list[int]:
    out = subprocess.run(["pgrep", "-f", str(root / "data")], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def test_an_instance_is_empty_private_and_removed(parent: Path) -> None:
    with throwaway_instance(MAJOR, parent=parent) as inst:
        root, port = inst.root, inst.port
        assert root.name.startswith(PREFIX) and oct(root.stat().st_mode)[-3:] == "700"
        assert inst.started_in_seconds > 0
        with connection(inst.conninfo) as conn, conn.cursor() as cur:
            cur.execute("SELECT datname FROM pg_database ORDER BY 1")
            assert [r[0] for r in cur.fetchall()] == ["postgres", "template0", "template1"]
            cur.execute("SELECT rolname FROM pg_roles WHERE rolname NOT LIKE 'pg\\_%' ORDER BY 1")
            assert [r[0] for r in cur.fetchall()] == ["postgres"]
            cur.execute("SHOW wal_level")
            assert cur.fetchone() == ("replica",)
            cur.execute("SELECT current_setting('server_version_num')::int / 10000")
            assert cur.fetchone() == (MAJOR,)
    assert not root.exists()
    assert not listening(port)
    assert postmasters_of(root) == []


def test_removed_when_the_block_raises(parent: Path) -> None:
    with pytest.raises(RuntimeError), throwaway_instance(MAJOR, parent=parent) as inst:
        root, port = inst.root, inst.port
        raise RuntimeError("drill failed")
    assert not root.exists() and not listening(port)


def test_missing_major_version_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ToolError, match="no PostgreSQL 99 server binaries"), \
            throwaway_instance(99, parent=tmp_path):
        pass
    assert list(tmp_path.iterdir()) == []


STARTER = """
import sys, time
from pathlib import Path
from dr_assets.core.pg.instance import throwaway_instance
with throwaway_instance(int(sys.argv[1]), parent=Path(sys.argv[2])) as inst:
    print(inst.root, inst.port, flush=True)
    time.sleep(600)
"""


def test_orphan_of_a_killed_starter_is_removed_and_a_live_ones_is_not(parent: Path) -> None:
    starter = subprocess.Popen([sys.executable, "-c", STARTER, str(MAJOR), str(parent)],
                               stdout=subprocess.PIPE, text=True, env=os.environ.copy())
    try:
        assert starter.stdout is not None
        root_text, port_text = starter.stdout.readline().split()
        root, port = Path(root_text), int(port_text)
        assert listening(port)
        # While the starter lives, its instance is not an orphan.
        assert remove_orphans(parent) == []
        assert root.exists() and listening(port)
        starter.send_signal(signal.SIGKILL)
        starter.wait(10)
    finally:
        if starter.poll() is None:
            starter.kill()
    assert root.exists() and listening(port), "SIGKILL leaves the server behind"
    assert json.loads((root / MARKER).read_text())["port"] == port
    # A directory that merely looks like ours (no marker) is never touched.
    stranger = parent / f"{PREFIX}stranger"
    stranger.mkdir()
    assert remove_orphans(parent) == [root]
    deadline = time.monotonic() + 10
    while listening(port) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not listening(port) and not root.exists() and postmasters_of(root) == []
    assert stranger.exists()


def test_the_next_instance_removes_orphans_first(parent: Path) -> None:
    orphan = parent / f"{PREFIX}dead"
    orphan.mkdir()
    (orphan / MARKER).write_text(json.dumps({"owner_pid": 2 ** 22 + 7, "owner_start": "1"}))
    with throwaway_instance(MAJOR, parent=parent):
        assert not orphan.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands the server to another user")
def test_a_parent_the_server_user_cannot_reach_is_refused_and_left_clean(tmp_path: Path) -> None:
    tmp_path.chmod(0o700)
    with pytest.raises(ToolError, match="cannot reach"), throwaway_instance(MAJOR, parent=tmp_path):
        pass
    assert list(tmp_path.iterdir()) == []
