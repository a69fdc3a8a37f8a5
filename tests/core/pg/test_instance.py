"""Throwaway PostgreSQL servers: they start empty on a free port, and nothing of them is
left behind, also when the process that started one is killed with SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dr_assets.core.errors import ToolError
from dr_assets.core.pg.conninfo import ConnInfo
from dr_assets.core.pg.instance import MARKER, PREFIX, remove_orphans, throwaway_instance
from dr_assets.core.pg.sessions import connection, server_major
from tests.support.pg import PG_URL, listening, postmasters_of

MAJOR = server_major(ConnInfo.parse(PG_URL))


def test_an_instance_is_empty_private_and_removed(instances_dir: Path) -> None:
    with throwaway_instance(MAJOR, parent=instances_dir) as inst:
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


def test_removed_when_the_block_raises(instances_dir: Path) -> None:
    with pytest.raises(RuntimeError), throwaway_instance(MAJOR, parent=instances_dir) as inst:
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


def test_orphan_of_a_killed_starter_is_removed_and_a_live_ones_is_not(instances_dir: Path) -> None:
    starter = subprocess.Popen([sys.executable, "-c", STARTER, str(MAJOR), str(instances_dir)],
                               stdout=subprocess.PIPE, text=True, env=os.environ.copy())
    try:
        assert starter.stdout is not None
        root_text, port_text = starter.stdout.readline().split()
        root, port = Path(root_text), int(port_text)
        assert listening(port)
        # While the starter lives, its instance is not an orphan.
        assert remove_orphans(instances_dir) == []
        assert root.exists() and listening(port)
        starter.send_signal(signal.SIGKILL)
        starter.wait(10)
    finally:
        if starter.poll() is None:
            starter.kill()
    assert root.exists() and listening(port), "SIGKILL leaves the server behind"
    assert json.loads((root / MARKER).read_text())["port"] == port
    # A directory that merely looks like ours (no marker) is never touched.
    stranger = instances_dir / f"{PREFIX}stranger"
    stranger.mkdir()
    assert remove_orphans(instances_dir) == [root]
    deadline = time.monotonic() + 10
    while listening(port) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not listening(port) and not root.exists() and postmasters_of(root) == []
    assert stranger.exists()


def test_the_next_instance_removes_orphans_first(instances_dir: Path) -> None:
    orphan = instances_dir / f"{PREFIX}dead"
    orphan.mkdir()
    (orphan / MARKER).write_text(json.dumps({"owner_pid": 2 ** 22 + 7, "owner_start": "1"}))
    with throwaway_instance(MAJOR, parent=instances_dir):
        assert not orphan.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands the server to another user")
def test_a_parent_the_server_user_cannot_reach_is_refused_and_left_clean(tmp_path: Path) -> None:
    tmp_path.chmod(0o700)
    with pytest.raises(ToolError, match="cannot reach"), throwaway_instance(MAJOR, parent=tmp_path):
        pass
    assert list(tmp_path.iterdir()) == []
