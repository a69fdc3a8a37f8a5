"""The WAL streamer against a real server: completed segments in both stores byte for byte
the server's own pg_wal files, the newest rows in a partial within seconds, a SIGKILL
mid-segment costing nothing, S3 down for a while caught up from the spool, the slot's
retained WAL alerted on, and every server that cannot be streamed from refused with a
clear message and its slots untouched."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dr_assets.core.errors import WalError
from dr_assets.core.pg.instance import throwaway_instance
from dr_assets.core.policy import ServerPolicy
from dr_assets.core.runtime import DRRuntime
from dr_assets.core.stores.base import Store
from dr_assets.core.wal.archive import WalArchive
from dr_assets.core.wal.base_backup import run_base_backup
from dr_assets.core.wal.preflight import check_server
from dr_assets.core.wal.recovery import recovered_server
from dr_assets.core.wal.slot_watch import SLOT_FILLING, WAL_CONFLICT, alert_app
from dr_assets.core.wal.streamer import WalStreamer
from dr_assets.core.wal.targets import RecoveryTarget
from dr_assets.devstack import seaweed
from tests.support.faults import OwnS3
from tests.support.pg import run_sql
from tests.support.pitr import PitrEnv, pitr_environment

TIMEOUT = 60.0


def until(what: str, condition: Callable[[], bool], step: Callable[[], None] | None = None,
          timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if step is not None:
            step()
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout:.0f} s: {what}")


def current_segment(env: PitrEnv) -> str:
    return str(env.sql("SELECT pg_walfile_name(pg_current_wal_lsn())")[0][0])


def write_and_switch(env: PitrEnv, note: str, rows: int = 200) -> str:
    """Rows into ticks, then a segment switch; returns the segment that was completed."""
    env.sql(f"INSERT INTO ticks (note) SELECT '{note}-' || g FROM generate_series(1, {rows}) g")
    segment = current_segment(env)
    env.sql("SELECT pg_switch_wal()")
    return segment


def segments_between(first: str, last: str) -> list[str]:
    tli, lo, hi = first[:8], int(first[8:], 16), int(last[8:], 16)
    return [f"{tli}{n >> 8:08X}{n & 0xFF:08X}" for n in range(lo, hi + 1)]


def server_file(env: PitrEnv, name: str) -> bytes:
    return (env.server.data_dir / "pg_wal" / name).read_bytes()


def archive_of(rt: DRRuntime) -> WalArchive:
    return WalArchive("main", rt.stores, rt.keyring)


def held(archive: WalArchive, store: Store) -> set[str]:
    return set(archive.names(store))


def assert_same_as_server(env: PitrEnv, rt: DRRuntime, names: list[str]) -> None:
    archive = archive_of(rt)
    for name in names:
        expected = server_file(env, name)
        for store in rt.stores:
            fetched = archive.fetch(name, prefer=[store.name])
            assert fetched.store == store.name and not fetched.bad_copies
            assert fetched.raw == expected, f"{store.name}'s {name} differs from pg_wal's"


@pytest.fixture
def streamer(pitr_env: PitrEnv) -> Iterator[WalStreamer]:
    rt = pitr_env.env.runtime()
    s = WalStreamer(rt.config, "main", keyring=rt.keyring, stores=rt.stores, catalog=rt.catalog)
    yield s
    s.stop()


def test_segments_in_both_stores_as_the_server_wrote_them_and_a_partial_within_seconds(
        pitr_env: PitrEnv, streamer: WalStreamer) -> None:
    rt = pitr_env.env.runtime()
    archive = archive_of(rt)
    first = current_segment(pitr_env)
    pre = streamer.start()
    assert pre.slot_created and pitr_env.sql(
        "SELECT slot_type FROM pg_replication_slots WHERE slot_name = 'dr_test'") == [("physical",)]
    last = ""
    for n in range(3):
        last = write_and_switch(pitr_env, f"batch{n}")
    names = segments_between(first, last)
    until(f"{names} in both stores",
          lambda: all(set(names) <= held(archive, s) for s in rt.stores), streamer.tick)
    assert_same_as_server(pitr_env, rt, names)
    rows = {r.name: r for r in rt.catalog.list_wal_files("main")}
    assert all(sorted(rows[n].held_by) == ["local", "s3"] for n in names)
    assert all(rows[n].kind == "segment" for n in names)

    # the newest rows, not yet in a completed segment, are in the stores within seconds
    pitr_env.sql("INSERT INTO ticks (note) VALUES ('the-newest-row-7f3a')")
    partial = current_segment(pitr_env) + ".partial"
    started = time.monotonic()

    def newest_in_partial() -> bool:
        if partial not in held(archive, rt.stores[1]) or partial not in held(archive, rt.stores[0]):
            return False
        return all(b"the-newest-row-7f3a" in archive.fetch(partial, prefer=[s.name]).raw
                   for s in rt.stores)

    until("the newest row in both stores' partial", newest_in_partial, streamer.tick, timeout=15)
    assert time.monotonic() - started < 10
    header = archive.fetch(partial).header
    assert header.written_bytes is not None and 0 < header.written_bytes < 16 << 20
    # what left the spool is what every store holds; the newest completed segment stays
    # for pg_receivewal to resume after it
    left = set(streamer.spool.finished())
    assert left <= {names[-1]} | {n for n in left if n.endswith(".history")}


def _drctl_stream(env: PitrEnv, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "dr_assets.cli", "--config",
                                 str(env.config_path), "wal", "stream", "main"],
                                stdout=out, stderr=subprocess.STDOUT)


def _slot_active(env: PitrEnv) -> bool:
    rows = env.sql("SELECT active FROM pg_replication_slots WHERE slot_name = 'dr_test'")
    return bool(rows and rows[0][0])


def test_sigkill_mid_segment_and_restart_loses_nothing_and_conflicts_nothing(
        pitr_env: PitrEnv, tmp_path: Path) -> None:
    rt = pitr_env.env.runtime()
    archive = archive_of(rt)
    log = tmp_path / "stream.log"
    first = current_segment(pitr_env)
    proc = _drctl_stream(pitr_env, log)
    try:
        until("the streamer's slot active", lambda: _slot_active(pitr_env))
        write_and_switch(pitr_env, "before")
        pitr_env.sql("INSERT INTO ticks (note) SELECT 'mid-' || g FROM generate_series(1, 500) g")
        mid = current_segment(pitr_env) + ".partial"
        until("the partial of the segment being written in a store",
              lambda: mid in held(archive, rt.stores[0]))
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        # pg_receivewal died with it: the slot is free again
        until("pg_receivewal gone with its parent", lambda: not _slot_active(pitr_env))
        pitr_env.sql("INSERT INTO ticks (note) SELECT 'while-down-' || g"
                     " FROM generate_series(1, 500) g")
        proc = _drctl_stream(pitr_env, log)
        until("the restarted streamer's slot active", lambda: _slot_active(pitr_env))
        write_and_switch(pitr_env, "after1")
        last = write_and_switch(pitr_env, "after2")
        names = segments_between(first, last)
        until(f"{names} in both stores",
              lambda: all(set(names) <= held(archive, s) for s in rt.stores))
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
    assert code == 0, log.read_text()[-3000:]
    assert_same_as_server(pitr_env, rt, names)
    for store in rt.stores:
        completed = sorted(n for n in held(archive, store) if len(n) == 24)
        assert completed[:len(names)] == names  # each once, no gap
    assert not [a for a in rt.catalog.list_alerts() if a.kind == WAL_CONFLICT]
    assert "restarting" not in log.read_text()  # no pg_receivewal failure along the way


def test_s3_down_local_keeps_receiving_s3_catches_up_and_either_store_recovers(
        tmp_path: Path, own_s3: OwnS3, catalog_db: str, instances_dir: Path) -> None:
    with pitr_environment(tmp_path, own_s3.server, catalog_db, instances_dir) as env:
        rt = env.env.runtime()
        archive = archive_of(rt)
        local, s3 = (next(s for s in rt.stores if s.name == n) for n in ("local", "s3"))
        s = WalStreamer(rt.config, "main", keyring=rt.keyring, stores=rt.stores,
                        catalog=rt.catalog)
        try:
            first = current_segment(env)
            s.start()
            base = run_base_backup(rt.config, "main", keyring=rt.keyring, stores=rt.stores,
                                   catalog=rt.catalog)
            own_s3.stop()
            last = ""
            for n in range(2):
                last = write_and_switch(env, f"outage{n}")
            names = segments_between(first, last)
            until("local holds what was written during the outage",
                  lambda: set(names) <= held(archive, local), s.tick)
            backlog = s.spool.backlog([st.name for st in rt.stores])
            assert {n for n, _, missing in backlog if missing == ["s3"]} >= set(names)
            own_s3.restart()
            until("S3 caught up", lambda: set(names) <= held(archive, s3), s.tick)
            until("the spool emptied", lambda: not s.spool.backlog(["local", "s3"]), s.tick)
        finally:
            s.stop()
        assert_same_as_server(env, rt, names)
        rows = {r.name: r for r in rt.catalog.list_wal_files("main")}
        assert all(sorted(rows[n].held_by) == ["local", "s3"] for n in names)
        # recovery works from either store alone, through the WAL written during the outage
        written = env.sql("SELECT count(*) FROM ticks WHERE note LIKE 'outage%'")[0][0]
        for only in (local, s3):
            with recovered_server(rt.config, "main", RecoveryTarget.latest(),
                                  keyring=rt.keyring, stores=[only], parent=instances_dir) as rec:
                assert rec.instance is not None and rec.base_backup_id == base.backup_id
                got = run_sql("shop", "SELECT count(*) FROM ticks WHERE note LIKE 'outage%'",
                              server=f"postgresql://postgres@127.0.0.1:{rec.instance.port}")
            assert got[0][0] == written and set(rec.fetch.served.values()) == {only.name}


def _server(rt: DRRuntime, url: str) -> ServerPolicy:
    return dataclasses.replace(rt.config.server("main"), url=url)


def _slots(env: PitrEnv) -> list[tuple[object, ...]]:
    return env.sql("SELECT slot_name, slot_type, active FROM pg_replication_slots"
                   " ORDER BY slot_name")


def test_servers_that_cannot_be_streamed_from_are_refused_and_left_alone(
        tmp_path: Path, s3_server: seaweed.SeaweedServer, catalog_db: str, instances_dir: Path) -> None:
    with pitr_environment(tmp_path, s3_server, catalog_db, instances_dir,
                          settings={"wal_level": "logical"}) as env:
        rt = env.env.runtime()
        # a role without REPLICATION
        env.sql("CREATE ROLE plain_user LOGIN")
        plain = _server(rt, f"{env.server_url.replace('postgres@', 'plain_user@')}/postgres")
        with pytest.raises(WalError, match="ALTER ROLE plain_user REPLICATION"):
            check_server(plain)
        assert _slots(env) == []

        # a logical slot of the same name
        env.sql("SELECT pg_create_logical_replication_slot('dr_test', 'test_decoding')")
        with pytest.raises(WalError, match="logical slot"):
            check_server(rt.config.server("main"))
        assert _slots(env) == [("dr_test", "logical", False)]
        env.sql("SELECT pg_drop_replication_slot('dr_test')")

        # a physical slot of that name held by someone else's client
        env.sql("SELECT pg_create_physical_replication_slot('dr_test', true)")
        (tmp_path / "theirs").mkdir()
        other = subprocess.Popen(
            ["pg_receivewal", "-D", str(tmp_path / "theirs"), "-S", "dr_test", "-n", "-d",
             f"host=127.0.0.1 port={env.server.port} user=postgres application_name=theirs"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            until("their client holding the slot", lambda: _slot_active(env))
            pid = env.sql("SELECT active_pid FROM pg_replication_slots")[0][0]
            with pytest.raises(WalError, match=f"in use by pid {pid} \\(application_name "
                                               "'theirs'"):
                check_server(rt.config.server("main"))
            failed = env.env.drctl("wal", "stream", "main", "--for", "1", check=False)
            assert failed.returncode == 1 and f"in use by pid {pid}" in failed.stderr
        finally:
            other.terminate()
            other.wait(10)
        assert [r[:2] for r in _slots(env)] == [("dr_test", "physical")]

    # wal_level = minimal
    with throwaway_instance(15, parent=instances_dir,
                            settings={"wal_level": "minimal", "max_wal_senders": "0"}) as bare:
        minimal = _server(rt, f"postgresql://postgres@127.0.0.1:{bare.port}/postgres")
        with pytest.raises(WalError, match="wal_level is 'minimal'.*wal_level = replica"):
            check_server(minimal)
        assert run_sql("postgres", "SELECT count(*) FROM pg_replication_slots",
                       server=f"postgresql://postgres@127.0.0.1:{bare.port}") == [(0,)]


def test_slot_filling_alert_opens_over_the_threshold_and_resolves_when_caught_up(
        tmp_path: Path, s3_server: seaweed.SeaweedServer, catalog_db: str, instances_dir: Path) -> None:
    with pitr_environment(tmp_path, s3_server, catalog_db, instances_dir,
                          server_extra="slot_alert_fraction = 0.3",
                          settings={"max_slot_wal_keep_size": "96MB"}) as env:
        rt = env.env.runtime()
        s = WalStreamer(rt.config, "main", keyring=rt.keyring, stores=rt.stores,
                        catalog=rt.catalog)

        def open_slot_alerts() -> list[str]:
            return [a.severity for a in rt.catalog.open_alerts()
                    if a.app == alert_app("main") and a.kind == SLOT_FILLING]

        check_server(rt.config.server("main"))  # the slot, with the streamer not running
        state = s.check_slot()
        assert state is not None and state.max_slot_wal_keep_size == 96 << 20
        assert open_slot_alerts() == []
        env.sql("INSERT INTO ticks (note) SELECT repeat('w', 1500) FROM generate_series(1, 30000)")
        state = s.check_slot()
        assert state is not None and (state.retained_bytes or 0) > 0.3 * (96 << 20)
        assert open_slot_alerts() == ["warning"]
        status = json.loads(env.env.drctl("wal", "status", "main", "--json").stdout)
        assert status["alert"]["severity"] == "warning"
        assert status["slot"]["retained_bytes"] > 0.3 * (96 << 20)
        try:
            s.start()
            env.sql("SELECT pg_switch_wal()")
            env.sql("CHECKPOINT")

            def cleared() -> bool:
                s.tick()
                s.check_slot()
                return open_slot_alerts() == []

            until("the alert resolved once the streamer caught up", cleared)
        finally:
            s.stop()
        # the streamer down, the server drops the WAL the slot needed: critical
        env.sql("INSERT INTO ticks (note) SELECT repeat('l', 1500) FROM generate_series(1, 90000)")
        env.sql("CHECKPOINT")
        env.sql("CHECKPOINT")
        s.check_slot()
        assert open_slot_alerts() == ["critical"]
        assert os.path.isdir(s.spool.incoming)


def test_a_store_holding_other_bytes_under_a_segment_name_is_alerted_never_overwritten(
        pitr_env: PitrEnv, streamer: WalStreamer) -> None:
    rt = pitr_env.env.runtime()
    archive = archive_of(rt)
    first = current_segment(pitr_env)
    impostor = os.urandom(4096)  # as if another server had streamed into this archive
    assert archive.put(first, impostor, received_at="2026-01-01T00:00:00Z",
                       only=["local"]).held_by == ["local"]
    streamer.start()
    write_and_switch(pitr_env, "conflict")
    s3 = next(s for s in rt.stores if s.name == "s3")
    until("the real segment in S3", lambda: first in held(archive, s3), streamer.tick)
    alerts = [a for a in rt.catalog.open_alerts() if a.kind == WAL_CONFLICT]
    assert [a.app for a in alerts] == [alert_app("main")] and first in alerts[0].message
    assert archive.fetch(first, prefer=["local"]).raw == impostor  # kept as it was
    assert archive.fetch(first, prefer=["s3"]).raw == server_file(pitr_env, first)
    streamer.tick()
    assert first in streamer.spool.finished()  # the received copy stays for an operator
    assert streamer.spool.holding(first).conflicts.keys() == {"local"}
