"""Base backups of a real throwaway server: stored in every destination with its WAL range,
listed from the stores, every copy proven, unpacked into a data directory PostgreSQL starts
from with the source's rows; a damaged copy passed over (named) for the other store's; a
failed pg_basebackup leaves no manifest and a failed catalog row."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from dr_assets.core.errors import BackupError
from dr_assets.core.pg.instance import PREFIX, ThrowawayInstance, server_user
from dr_assets.core.pg.wal_names import Segment, parse_lsn
from dr_assets.core.wal.base_backup import (
    list_base_backups_in_stores,
    run_base_backup,
    verify_base_backup,
)
from dr_assets.core.wal.untar import untar_base_backup
from tests.support.pg import table_checksums
from tests.support.pitr import PitrEnv


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_base_backup_is_stored_verified_and_starts_as_a_server(
        pitr_env: PitrEnv, instances_dir: Path) -> None:
    pitr_env.sql("INSERT INTO ticks (note) SELECT 'before ' || g FROM generate_series(1, 300) g")
    rt = pitr_env.env.runtime()
    m = run_base_backup(rt.config, "main", keyring=rt.keyring, stores=rt.stores,
                        catalog=rt.catalog)
    assert m.status == "completed" and sorted(m.ok_destinations) == ["local", "s3"]
    assert m.timeline == 1 and m.includes_wal and m.wal_segment_size == 16 << 20
    assert parse_lsn(m.start_lsn) <= parse_lsn(m.stop_lsn)
    assert m.start_wal == Segment.of(1, parse_lsn(m.start_lsn)).name
    [(sysid,)] = pitr_env.sql("SELECT system_identifier::text FROM pg_control_system()")
    assert m.system_identifier == sysid and m.server_version.startswith("15")
    assert (pitr_env.env.local_dir / m.manifest_key).exists()
    [row] = rt.catalog.list_base_backups("main")
    assert row.backup_id == m.backup_id and row.status == "completed"
    assert row.sha256 == m.sha256 and row.start_lsn == m.start_lsn
    assert [b.backup_id for b in list_base_backups_in_stores("main", rt.stores)] == [m.backup_id]
    check = verify_base_backup(m, rt.stores)
    assert check.ok and {c.destination for c in check.checks} == {"local", "s3"}

    source = table_checksums("shop", server=pitr_env.server_url)
    pitr_env.sql("INSERT INTO ticks (note) VALUES ('after the backup')")
    bindir = pitr_env.server.bindir
    user = server_user(bindir)
    root = Path(tempfile.mkdtemp(prefix=PREFIX, dir=instances_dir))
    if user:
        shutil.chown(root, user)
    restored = ThrowawayInstance(root=root, bindir=bindir, major=15, os_user=user)
    try:
        unpacked = untar_base_backup(m, rt.stores, rt.keyring, root / "data", owner=user)
        assert unpacked.store == "local" and unpacked.bad_copies == {}
        assert (root / "data" / "pg_wal").is_dir()
        assert (root / "data").stat().st_mode & 0o777 == 0o700
        restored.start()  # with the WAL in the tar: consistent without any restore_command
        assert table_checksums("shop", server=f"postgresql://postgres@127.0.0.1:{restored.port}"
                               ) == source
    finally:
        restored.stop()


def test_a_damaged_copy_is_named_and_the_other_store_used(pitr_env: PitrEnv, tmp_path: Path
                                                          ) -> None:
    rt = pitr_env.env.runtime()
    m = run_base_backup(rt.config, "main", keyring=rt.keyring, stores=rt.stores,
                        catalog=rt.catalog)
    _flip_byte(pitr_env.env.local_dir / m.object_key)
    check = verify_base_backup(m, rt.stores)
    assert not check.ok and [c.destination for c in check.failures] == ["local"]
    assert "failed its checksum on local" in (check.failures[0].error or "")
    unpacked = untar_base_backup(m, rt.stores, rt.keyring, tmp_path / "data", prefer=["local"])
    assert unpacked.store == "s3" and list(unpacked.bad_copies) == ["local"]
    assert (tmp_path / "data" / "PG_VERSION").read_text().strip() == "15"


def test_a_failed_base_backup_leaves_no_manifest_and_a_failed_row(pitr_env: PitrEnv) -> None:
    pitr_env.sql("CREATE ROLE plain LOGIN NOREPLICATION", db="postgres")
    pitr_env.sql("GRANT pg_read_all_stats TO plain", db="postgres")
    text = pitr_env.config_path.read_text().replace(
        f'url = "{pitr_env.server_url}/postgres"',
        f'url = "postgresql://plain@127.0.0.1:{pitr_env.server.port}/postgres"')
    pitr_env.config_path.write_text(text)
    rt = pitr_env.env.runtime()
    with pytest.raises(BackupError, match="pg_basebackup of server main"):
        run_base_backup(rt.config, "main", keyring=rt.keyring, stores=rt.stores,
                        catalog=rt.catalog)
    [row] = rt.catalog.list_base_backups("main")
    assert row.status == "failed" and "pg_basebackup" in (row.error or "")
    assert list_base_backups_in_stores("main", rt.stores) == []
    assert all(list(s.list_keys("_base/main/")) == [] for s in rt.stores)
