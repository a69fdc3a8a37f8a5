"""Parallel restore's edges: no room to spool, a bad spool directory, a corrupt copy."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from dr_assets.core.backup.take import run_backup
from dr_assets.core.errors import RestoreError
from dr_assets.core.format.manifest import object_key
from dr_assets.core.pg.conninfo import ConnInfo
from dr_assets.core.restore import loading as pg_load
from dr_assets.core.restore.restore import restore_backup
from tests.support.env import DREnv
from tests.support.pg import PG_URL, db_exists, drop_db, run_sql


def _backup(env: DREnv) -> Any:
    rt = env.runtime()
    return rt, run_backup(rt.config, "shop", keyring=rt.keyring, stores=rt.stores,
                          catalog=rt.catalog).manifest


def test_without_room_to_spool_it_streams(dr_env: DREnv, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    rt, m = _backup(dr_env)
    # Fault injected: this machine's disk cannot safely be filled, so the free space that
    # the spool check reads is faked to a few bytes.
    real = shutil.disk_usage
    monkeypatch.setattr(pg_load.shutil, "disk_usage",
                        lambda p: real(p)._replace(free=1024))
    target = "drt_par_stream"
    drop_db(target)
    try:
        result = restore_backup(m, target_db=target, target=ConnInfo.parse(PG_URL),
                                stores=rt.stores, keyring=rt.keyring, jobs=4, spool_dir=tmp_path)
        assert result.loaded_with == "stream" and result.rows == 23000
        assert run_sql(target, "SELECT count(*) FROM orders") == [(20000,)]
    finally:
        drop_db(target)


def test_bad_jobs_or_spool_dir_change_nothing(dr_env: DREnv, tmp_path: Path) -> None:
    rt, m = _backup(dr_env)
    target = "drt_par_refused"
    drop_db(target)
    for jobs, spool, needle in ((0, None, "between 1 and"), (2, tmp_path / "nope",
                                                            "does not exist")):
        with pytest.raises(RestoreError, match=needle):
            restore_backup(m, target_db=target, target=ConnInfo.parse(PG_URL),
                           stores=rt.stores, keyring=rt.keyring, jobs=jobs, spool_dir=spool)
        assert not db_exists(target)


def test_a_corrupt_copy_falls_back_and_leaves_no_spool(dr_env: DREnv, tmp_path: Path) -> None:
    rt, m = _backup(dr_env)
    local = dr_env.local_dir / object_key(m.backup_id)
    data = bytearray(local.read_bytes())
    data[len(data) // 2] ^= 0xFF
    local.write_bytes(bytes(data))
    target = "drt_par_fallback"
    drop_db(target)
    try:
        result = restore_backup(m, target_db=target, target=ConnInfo.parse(PG_URL),
                                stores=rt.stores, keyring=rt.keyring, jobs=2, spool_dir=tmp_path)
        assert result.source_destination == "s3" and "local" in result.skipped_copies
        assert result.loaded_with.startswith("parallel") and result.rows == 23000
        assert list(tmp_path.glob("*.dump")) == [] and list(tmp_path.glob(".*.dump")) == []
    finally:
        drop_db(target)
