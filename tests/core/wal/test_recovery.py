"""Recovery to a moment against a real streamed server: to a time between two commits
(every row committed at or before it, none after), to the newest WAL (the partial
segment's rows included), past a bad copy in one store (named), stopped by a segment no
store holds (named, with the last reachable moment), and bad targets refused with the
window, leaving nothing behind."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from dr_assets.core.errors import InvalidName, WalError
from dr_assets.core.wal.archive import wal_key
from dr_assets.core.wal.recovery import RecoveryTarget, recovered_server
from tests.support.pitr import PitrEnv
from tests.support.recovery import (
    base_backup,
    current_segment,
    rows_around_a_pause,
    streaming,
    switch_wal,
    tick,
    ticks_on,
    until_held,
)


def test_to_a_time_between_commits_and_to_the_newest_wal(pitr_env: PitrEnv,
                                                         instances_dir: Path) -> None:
    env = pitr_env
    rt = env.env.runtime()
    before = set(instances_dir.iterdir())  # the protected server's own
    with streaming(env):
        base = base_backup(env)
        pause = rows_around_a_pause(env)
        until_held(rt, {switch_wal(env)})
        tick(env, 5, "newest")  # only in the partial segment
        partial = current_segment(env) + ".partial"
        until_held(rt, {partial})
        newest = max(r[0] for r in env.sql("SELECT id FROM ticks"))  # type: ignore[type-var]
        with recovered_server(rt.config, "main", RecoveryTarget.at_time(pause.moment),
                              keyring=rt.keyring, stores=rt.stores,
                              parent=instances_dir) as rec:
            assert rec.instance is not None
            got = ticks_on(rec.instance.port)
        assert rec.base_backup_id == base.backup_id
        assert all(at <= pause.moment for _, at, _ in got)
        assert [n for _, _, n in got] == ["before"] * pause.before
        assert rec.timeline == 2 and rec.fetch.served and not rec.bad_copies
        with recovered_server(rt.config, "main", RecoveryTarget.latest(), keyring=rt.keyring,
                              stores=rt.stores, parent=instances_dir) as latest:
            assert latest.instance is not None
            got = ticks_on(latest.instance.port)
        assert got[-1][0] == newest and [n for _, _, n in got].count("newest") == 5
        assert partial.removesuffix(".partial") in latest.fetch.partials
    assert set(instances_dir.iterdir()) == before
