"""Recovery across timelines: a server recovered to a moment and promoted (timeline 2),
started as the protected server with the same archive and streamed in its turn, then
recovered to a moment on timeline 2 from the base backup taken on timeline 1. The rows
the first server wrote after the first moment (its abandoned timeline 1) must not come
back, and a restore point made there cannot be recovered to."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from dr_assets.core.errors import WalError
from dr_assets.core.pg.instance import ThrowawayInstance, server_bindir, server_user
from dr_assets.core.runtime import DRRuntime
from dr_assets.core.wal.archive import WalArchive
from dr_assets.core.wal.chain import follow_chain, held_names
from dr_assets.core.wal.planning import plan_recovery, read_window
from dr_assets.core.wal.recovery import recover_server, recovered_server
from dr_assets.core.wal.restore_points import record_restore_point, restore_point_target
from dr_assets.core.wal.targets import RecoveryTarget
from tests.support.pitr import PitrEnv, write_pitr_config
from tests.support.recovery import (
    base_backup,
    rows_around_a_pause,
    streaming,
    switch_wal,
    ticks_on,
    until_held,
)


@contextmanager
def promoted_server(rt: DRRuntime, env: PitrEnv, target: RecoveryTarget,
                    parent: Path) -> Iterator[ThrowawayInstance]:
    """The protected server recovered to TARGET into a data directory (restore-server) and
    started from it as a server of its own, as an operator would after losing the first."""
    bindir = server_bindir(15)
    user = server_user(bindir)
    root = Path(tempfile.mkdtemp(prefix="promoted-", dir=parent))
    if user:
        shutil.chown(root, user)
    recovered = recover_server(rt.config, "main", target, keyring=rt.keyring, stores=rt.stores,
                               data_dir=root / "data", parent=parent)
    assert recovered.timeline == 2
    server = ThrowawayInstance(root=root, bindir=bindir, major=15, os_user=user)
    try:
        server.start()
        yield server
    finally:
        server.stop()


def test_recovery_to_a_moment_on_the_timeline_an_earlier_recovery_began(
        pitr_env: PitrEnv, instances_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    env = pitr_env
    rt = env.env.runtime()
    with streaming(env):
        base = base_backup(env)
        first = rows_around_a_pause(env, n=10, before="r1", after="r2")
        abandoned = record_restore_point(rt.config, "main", rt.catalog)  # after r2
        until_held(rt, {switch_wal(env)})

    with promoted_server(rt, env, RecoveryTarget.at_time(first.moment),
                         instances_dir) as promoted:
        # The promoted server is the protected one now: same archive, same spool.
        write_pitr_config(env.env.root, env.env.s3, env.env.s3_prefix, env.env.catalog_db,
                          f"postgresql://postgres@127.0.0.1:{promoted.port}")
        second_env = PitrEnv(env.env, promoted)
        assert [n for _, _, n in ticks_on(promoted.port)] == ["r1"] * first.before
        with streaming(second_env):
            second = rows_around_a_pause(second_env, n=10, before="r3", after="r4")
            closed = switch_wal(second_env)
            assert closed.startswith("00000002")
            until_held(rt, {"00000002.history", closed})
        # the first server's newest files were kept out of pg_receivewal's sight, then shipped
        assert "whose history does not hold" in caplog.text
        spool = rt.config.server("main").spool(env.config_path.parent) / "parked"
        assert spool.is_dir() and not any(spool.iterdir())
        rt = env.env.runtime()
        archive = WalArchive("main", rt.stores, rt.keyring)
        held = held_names(archive)
        chain = follow_chain(archive, base.start_wal)
        assert chain.ok and chain.timelines == (1, 2), chain.message
        switch = min(n[8:24] for n in chain.names if n.startswith("00000002"))
        # the first server's timeline-1 WAL from the switch on (r2) is held, not followed
        assert any(n.startswith("00000001") and n[8:24] >= switch for n in held)
        assert all(n.startswith("00000002") for n in chain.names if n[8:24] >= switch)
        window = read_window("main", rt.stores, rt.keyring)
        assert window.latest is not None and second.moment < window.latest

        # a restore point of the abandoned stretch of timeline 1 is refused, naming why
        with pytest.raises(WalError, match=f"{abandoned.name}.*on timeline 1, which the WAL "
                                           "from base backup .* does not pass"):
            plan_recovery(window, restore_point_target(rt.catalog, "main", abandoned.name))

        with recovered_server(rt.config, "main", RecoveryTarget.at_time(second.moment),
                              keyring=rt.keyring, stores=rt.stores,
                              parent=instances_dir) as rec:
            assert rec.instance is not None
            notes = [n for _, _, n in ticks_on(rec.instance.port)]
        assert rec.base_backup_id == base.backup_id and rec.timeline == 3
        assert notes == ["r1"] * first.before + ["r3"] * (second.before - first.before)
