"""Replay through the fetch service on a plain base backup (pg_basebackup into the
instance's data directory): recovery to a time stops between two commits, a bad copy in
one store is passed over and named, a segment no store holds stops recovery naming it."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest

from dr_assets.core.errors import WalError
from dr_assets.core.pg.instance import throwaway_instance
from dr_assets.core.wal.archive import WalArchive
from dr_assets.core.wal.recovery import RecoveryTarget, prepare_data_dir, replay
from tests.support.pitr import PitrEnv
from tests.support.pg import run_sql
from tests.support.recovery import archive_wal, base_into, switch_wal, tick


def _archive(env: PitrEnv) -> WalArchive:
    rt = env.env.runtime()
    return WalArchive("main", rt.stores, rt.keyring)


def test_replay_to_a_time_between_commits(pitr_env: PitrEnv, instances_dir: Path) -> None:
    env = pitr_env
    archive = _archive(env)
    with throwaway_instance(15, parent=instances_dir, start=False,
                            prepare=lambda i: base_into(env, i)) as inst:
        tick(env, 20, "before")
        time.sleep(1.5)
        tick(env, 20, "after")
        switch_wal(env)
        put = archive_wal(env, archive)
        rows = env.sql("SELECT at, note FROM ticks ORDER BY id")
        last_before = max(r[0] for r in rows if r[1] == "before")
        first_after = min(r[0] for r in rows if r[1] == "after")
        target = last_before + (first_after - last_before) / 2
        prepare_data_dir(inst)
        done = replay(inst, archive, [n for n in put if not n.endswith(".history")],
                      RecoveryTarget.at_time(target))
        got = run_sql("shop", "SELECT note, count(*) FROM ticks GROUP BY 1",
                      server=f"postgresql://postgres@127.0.0.1:{inst.port}")
        assert dict(got) == {"before": 20}
        assert done.timeline == 2 and done.fetch.served
