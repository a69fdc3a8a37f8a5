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
from dr_assets.core.format.manifest import parse_time
from dr_assets.core.runtime import DRRuntime
from dr_assets.core.stores.base import Store
from dr_assets.core.wal.archive import wal_key
from dr_assets.core.wal.recovery import recovered_server
from dr_assets.core.wal.targets import RecoveryTarget
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


def _recover_latest(rt: DRRuntime, parent: Path) -> None:
    with recovered_server(rt.config, "main", RecoveryTarget.latest(), keyring=rt.keyring,
                          stores=rt.stores, parent=parent):
        pass


def _flip(store: Store, key: str) -> None:
    blob = bytearray(store.get_bytes(key))
    blob[-20] ^= 0xFF
    store.put_bytes(key, bytes(blob))


def test_a_bad_copy_is_passed_over_and_a_segment_no_store_holds_stops_recovery(
        pitr_env: PitrEnv, instances_dir: Path) -> None:
    env = pitr_env
    rt = env.env.runtime()
    with streaming(env):
        base_backup(env)
        tick(env, 10, "one")
        damaged = switch_wal(env)
        tick(env, 10, "two")
        lost = switch_wal(env)
        tick(env, 10, "three")
        until_held(rt, {damaged, lost, switch_wal(env)})
    first = rt.stores[0]
    _flip(first, wal_key("main", damaged))
    with recovered_server(rt.config, "main", RecoveryTarget.latest(), keyring=rt.keyring,
                          stores=rt.stores, parent=instances_dir) as rec:
        assert rec.instance is not None
        assert [n for _, _, n in ticks_on(rec.instance.port)].count("three") == 10
    assert set(rec.fetch.bad_copies[damaged]) == {first.name}
    assert rec.fetch.served[damaged] == rt.stores[1].name

    # Held, but bad in every store: the chain looks whole, recovery stops at it.
    _flip(rt.stores[1], wal_key("main", damaged))
    before = set(instances_dir.iterdir())
    with pytest.raises(WalError, match=f"stopped at WAL segment {damaged}.*last reachable moment"
                       ".*--to-time"):
        _recover_latest(rt, instances_dir)
    assert set(instances_dir.iterdir()) == before

    # Missing from every store: refused before anything is made, naming it.
    for store in rt.stores:
        store.delete(wal_key("main", lost))
    with pytest.raises(WalError, match=f"{lost} is missing from every store.*last reachable "
                                       "moment.*--to-time"):
        _recover_latest(rt, instances_dir)
    assert set(instances_dir.iterdir()) == before


def test_targets_outside_the_window_and_bad_targets_are_refused_leaving_nothing(
        pitr_env: PitrEnv, instances_dir: Path) -> None:
    env = pitr_env
    rt = env.env.runtime()
    before = set(instances_dir.iterdir())

    def recover(target: RecoveryTarget) -> None:
        with recovered_server(rt.config, "main", target, keyring=rt.keyring,
                              stores=rt.stores, parent=instances_dir):
            raise AssertionError("recovered")

    with pytest.raises(WalError, match="no base backup"):
        recover(RecoveryTarget.latest())
    with streaming(env):
        base = base_backup(env)
        tick(env, 3, "x")
        until_held(rt, {switch_wal(env)})
    with pytest.raises(WalError, match="before the earliest base backup.*recoverable from"):
        recover(RecoveryTarget.at_time(parse_time(base.started_at) - timedelta(hours=1)))
    with pytest.raises(WalError, match="after the newest WAL.*recoverable from"):
        recover(RecoveryTarget.parse_time("2099-01-01T00:00:00Z"))
    with pytest.raises(WalError, match="beyond the newest WAL"):
        recover(RecoveryTarget.at_lsn("FF/0"))
    with pytest.raises(InvalidName, match="not a WAL position"):
        RecoveryTarget.at_lsn("0/xyz")
    with pytest.raises(WalError, match="no time zone: add Z"):
        RecoveryTarget.parse_time("2026-11-20T06:00:00")
    with pytest.raises(WalError, match="not a time"):
        RecoveryTarget.parse_time("yesterday")
    assert set(instances_dir.iterdir()) == before
