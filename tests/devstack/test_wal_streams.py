"""`make up` starts a WAL streamer per [servers.NAME] (creating the missing slot) and
`make down` stops it with its pg_receivewal: no orphan left, the slot kept."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from dr_assets.core.policy import load_config
from dr_assets.devstack import down
from dr_assets.devstack.dagster_stack import stack_env
from dr_assets.devstack.report import Report
from dr_assets.devstack.state import Paths, RunDir
from dr_assets.devstack.wal_streams import ensure_wal_streamers
from tests.support.pitr import PitrEnv


def receivers_of(spool: Path) -> list[int]:
    """pg_receivewal processes writing into SPOOL."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if "pg_receivewal" in cmd and str(spool) in cmd:
                found.append(int(entry.name))
    return found


def test_make_up_starts_the_streamer_and_make_down_leaves_no_pg_receivewal(
        pitr_env: PitrEnv, capsys: pytest.CaptureFixture[str]) -> None:
    paths = Paths(root=pitr_env.config_path.parent, config=pitr_env.config_path)
    config = load_config(pitr_env.config_path)
    spool = config.server("main").spool(paths.root)
    assert pitr_env.sql("SELECT count(*) FROM pg_replication_slots") == [(0,)]
    report = Report(paths)
    ensure_wal_streamers(config, stack_env(paths), report)
    assert not report.problems
    assert "wal main" in report.changed  # the slot was created
    rec = RunDir(paths).get("wal-stream-main")
    assert rec is not None and rec.alive()
    assert pitr_env.sql("SELECT active FROM pg_replication_slots WHERE slot_name = 'dr_test'"
                        ) == [(True,)]
    assert len(receivers_of(spool)) == 1
    # a second `make up` leaves the running one alone
    again = Report(paths)
    ensure_wal_streamers(config, stack_env(paths), again)
    assert not again.problems and not again.changed and RunDir(paths).get("wal-stream-main")

    capsys.readouterr()
    assert down.main(["--config", str(pitr_env.config_path)]) == 0
    said = capsys.readouterr().out
    assert "WAL streamer of server main" in said and "Replication slot dr_test stays" in said
    deadline = time.monotonic() + 10
    while receivers_of(spool) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert receivers_of(spool) == []
    assert RunDir(paths).names() == []
    assert pitr_env.sql("SELECT active FROM pg_replication_slots WHERE slot_name = 'dr_test'"
                        ) == [(False,)]  # stopped, not dropped
