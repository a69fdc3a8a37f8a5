"""Retention of a server's chain against a real server's WAL: two base backups with WAL
between and after them; keeping only the newer deletes the older one and exactly the WAL
before the newer one's start, and every segment it needs is still fetchable; a floor
keeping both deletes neither, nor any WAL from the older one's start on (only what came
before it, which no base backup needs). The WAL in the stores is the server's own segment files,
archived here by hand (the streamer is tested on its own)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dr_assets.core.format.base_backup import BaseBackupManifest
from dr_assets.core.pg.wal_names import Segment, is_segment_name
from dr_assets.core.runtime import DRRuntime
from dr_assets.core.wal.archive import WalArchive, wal_key
from dr_assets.core.wal.base_backup import list_base_backups_in_stores, run_base_backup
from dr_assets.core.wal.retention import apply_server_retention, wal_needed
from tests.support.pitr import PitrEnv

LATER = datetime.now(UTC) + timedelta(days=3)  # both base backups past a 1-day window


def test_wal_needed_rules() -> None:
    start = [Segment.parse("000000020000000000000010")]
    assert wal_needed("00000002.history", start) and wal_needed("00000001.history", start)
    assert wal_needed("000000020000000000000010", start)
    assert wal_needed("000000030000000000000011.partial", start)
    assert not wal_needed("00000002000000000000000F", start)
    assert not wal_needed("000000010000000000000012", start)  # an older timeline
    assert wal_needed("000000010000000000000001", [])  # no base backup: nothing goes


def _archive_closed_segments(env: PitrEnv, archive: WalArchive, rt: DRRuntime) -> None:
    """Put every completed segment in the server's pg_wal into the stores (and the
    catalog), as the streamer would."""
    [(current,)] = env.sql("SELECT pg_walfile_name(pg_current_wal_lsn())")
    for path in sorted(Path(env.server.data_dir, "pg_wal").iterdir()):
        if is_segment_name(path.name) and path.name < str(current):
            raw = path.read_bytes()
            now = datetime.now(UTC)
            result = archive.put(path.name, raw, received_at=now.isoformat())
            header = result.header
            assert header is not None and result.held_by
            rt.catalog.record_wal_file("main", path.name, "segment", 1, now, len(raw),
                                       header.raw_sha256, result.held_by)


def _write_and_switch(env: PitrEnv, times: int) -> None:
    for i in range(times):
        env.sql(f"INSERT INTO ticks (note) VALUES ('switch {i}')")
        env.sql("SELECT pg_switch_wal()")


def _two_base_backups(env: PitrEnv) -> tuple[DRRuntime, WalArchive, BaseBackupManifest,
                                              BaseBackupManifest]:
    rt = env.env.runtime()
    archive = WalArchive("main", rt.stores, rt.keyring)
    backups = []
    for _ in range(2):
        _write_and_switch(env, 2)
        _archive_closed_segments(env, archive, rt)
        backups.append(run_base_backup(rt.config, "main", keyring=rt.keyring, stores=rt.stores,
                                       catalog=rt.catalog))
    _write_and_switch(env, 2)
    _archive_closed_segments(env, archive, rt)
    return rt, archive, backups[0], backups[1]


def test_retention_keeps_the_wal_the_kept_base_backup_needs(pitr_env: PitrEnv) -> None:
    rt, archive, older, newer = _two_base_backups(pitr_env)
    local = next(s for s in rt.stores if s.kind == "local")
    older_start = Segment.parse(older.start_wal)
    newer_start = Segment.parse(newer.start_wal)
    ancient = [n for n in archive.names(local) if Segment.parse(n).number < older_start.number]
    assert ancient  # WAL from before either base backup: no backup needs it

    # The floor keeps both: no base backup goes, nor any WAL from the older one's start on.
    both = replace(rt.config.server("main"), retention_days=1, min_keep=2)
    kept = apply_server_retention(both, stores=rt.stores, catalog=rt.catalog, dry_run=False,
                                  now=LATER)
    assert kept.deleted == [] and kept.wal_deleted == sorted(ancient)
    held = sorted(archive.names(local))
    assert held and all(Segment.parse(n).number >= older_start.number for n in held)
    again = apply_server_retention(both, stores=rt.stores, catalog=rt.catalog, dry_run=False,
                                   now=LATER)
    assert again.deleted == [] and again.wal_deleted == []
    assert sorted(archive.names(local)) == held

    before = [n for n in held if Segment.parse(n).number < newer_start.number]
    after = [n for n in held if Segment.parse(n).number >= newer_start.number]
    assert before and len(after) >= 2  # WAL between the two, the newer one's and after it

    one = replace(both, min_keep=1)
    preview = apply_server_retention(one, stores=rt.stores, catalog=rt.catalog, now=LATER)
    doc = preview.to_dict()
    assert doc["would_delete"] == [older.backup_id]
    assert doc["wal"]["would_delete"] == before and doc["wal"]["bytes"] > 0
    assert doc["bytes_freed"] > older.stored_bytes
    assert sorted(archive.names(local)) == held  # a preview deletes nothing

    applied = apply_server_retention(one, stores=rt.stores, catalog=rt.catalog, dry_run=False,
                                     now=LATER)
    assert applied.deleted == [older.backup_id] and applied.wal_deleted == before
    for store in rt.stores:
        assert store.size(older.manifest_key) is None and store.size(older.object_key) is None
        assert sorted(archive.names(store)) == after
        assert all(store.size(wal_key("main", n)) is None for n in before)
    assert [m.backup_id for m in list_base_backups_in_stores("main", rt.stores)] == [
        newer.backup_id]
    rows = {r.backup_id: r.status for r in rt.catalog.list_base_backups("main",
                                                                        include_deleted=True)}
    assert rows == {older.backup_id: "deleted", newer.backup_id: "completed"}
    assert {r.name for r in rt.catalog.list_wal_files("main")} == set(after)
    for name in after:  # every segment the kept base backup needs is still fetchable
        assert archive.fetch(name).raw == (Path(pitr_env.server.data_dir, "pg_wal", name)
                                           .read_bytes())
