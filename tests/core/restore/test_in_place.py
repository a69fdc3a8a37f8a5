"""In-place restore swaps a validated copy in and keeps the original; rollback swaps back;
--as-of picks the newest backup at or before an instant."""

from __future__ import annotations

import json
from dataclasses import replace

import psycopg2
import pytest

from dr_assets.core.backup.take import run_backup
from dr_assets.core.errors import RestoreError
from dr_assets.core.pg.conninfo import ConnInfo
from dr_assets.core.restore.restore import restore_in_place
from tests.support.env import DREnv, verified_backups
from tests.support.pg import PG_URL, db_exists, drop_db, run_sql
from tests.support.stores import counted_stores


def _backup(env: DREnv) -> str:
    rt = env.runtime()
    [m] = verified_backups(rt, "shop")
    return m.backup_id


def _databases(prefix: str) -> list[str]:
    return [str(r[0]) for r in run_sql("postgres", "SELECT datname FROM pg_database WHERE "
                                                   f"datname LIKE '{prefix}%' ORDER BY 1")]


def test_replace_refuses_while_connected_then_swaps_and_rolls_back(dr_env: DREnv) -> None:
    db = dr_env.apps["shop"]
    backup_id = _backup(dr_env)
    run_sql(db, "DELETE FROM orders WHERE id > 100")  # the 'disaster'
    holder = psycopg2.connect(f"{PG_URL}/{db}")  # an application still connected
    try:
        proc = dr_env.drctl("restore", backup_id, "--replace", "--yes", check=False)
        assert proc.returncode == 1 and "session(s) are connected" in proc.stderr
        assert "untouched" in proc.stderr
        assert run_sql(db, "SELECT count(*) FROM orders") == [(100,)]
        assert _databases(f"{db}_restore_") == []  # the scratch copy is gone

        proc = dr_env.drctl("restore", backup_id, "--replace", "--yes", "--force-disconnect",
                            "--json")
        out = json.loads(proc.stdout)
        assert out["sessions_ended"] == 1 and out["target_database"] == db
    finally:
        holder.close()
    assert run_sql(db, "SELECT count(*) FROM orders") == [(20000,)]
    [kept] = _databases(f"{db}_pre_restore_")
    assert kept == out["previous_database"]
    assert run_sql(kept, "SELECT count(*) FROM orders") == [(100,)]
    restores = dr_env.runtime().catalog.list_restores(limit=1)
    assert restores[0].mode == "REPLACE" and restores[0].status == "succeeded"

    assert dr_env.drctl("rollback", "shop", check=False).returncode == 1  # needs --yes
    out = json.loads(dr_env.drctl("rollback", "shop", "--yes", "--json").stdout)
    assert run_sql(db, "SELECT count(*) FROM orders") == [(100,)]
    assert db_exists(out["previous"]) and "_rolled_back_" in out["previous"]
    for name in _databases(f"{db}_"):
        drop_db(name)


def test_failed_replace_leaves_the_original_untouched(dr_env: DREnv) -> None:
    db = dr_env.apps["shop"]
    backup_id = _backup(dr_env)
    run_sql(db, "INSERT INTO customers (name) VALUES ('after the backup')")
    for store in dr_env.runtime().stores:  # every copy unreadable: the restore must fail
        from dr_assets.core.format.manifest import object_key

        store.put_bytes(object_key(backup_id), b"corrupt")
    proc = dr_env.drctl("restore", backup_id, "--replace", "--yes", "--force-disconnect",
                        check=False)
    assert proc.returncode == 1 and "no good copy" in proc.stderr
    assert run_sql(db, "SELECT count(*) FROM customers") == [(3001,)]
    assert _databases(f"{db}_") == []


def test_a_copy_failing_its_checksum_at_the_end_is_never_swapped_in(dr_env: DREnv) -> None:
    """The injected fault: the manifest's SHA-256 is edited, so each copy is loaded into the
    scratch database in full and only then fails its checksum. Nothing is swapped in."""
    db = dr_env.apps["shop"]
    rt = dr_env.runtime()
    m = run_backup(rt.config, "shop", keyring=rt.keyring, stores=rt.stores,
                   catalog=rt.catalog).manifest
    run_sql(db, "DELETE FROM orders WHERE id > 100")
    stores = counted_stores(rt.config)
    with pytest.raises(RestoreError, match="no good copy") as failed:
        restore_in_place(replace(m, sha256="0" * 64), target_db=db,
                         target=ConnInfo.parse(f"{PG_URL}/postgres"),
                         stores=list(stores.values()), keyring=rt.keyring, catalog=rt.catalog,
                         force_disconnect=True)
    assert m.server_objects is not None  # read once, from the first store, before the dump
    for name, extra in (("local", m.server_objects.stored_bytes), ("s3", 0)):
        assert f"failed its checksum on {name} (expected 000000000000.." in str(failed.value)
        assert stores[name].bytes_read == m.stored_bytes + extra  # read, and loaded, to its end
    assert run_sql(db, "SELECT count(*) FROM orders") == [(100,)]
    assert _databases(f"{db}_") == []
    last = rt.catalog.list_restores(limit=1)[0]
    assert last.mode == "REPLACE" and last.status == "failed"


def test_as_of_restores_the_newest_backup_at_or_before(dr_env: DREnv) -> None:
    first, second = _backup(dr_env), _backup(dr_env)
    catalog_db = dr_env.catalog_db
    run_sql(catalog_db, f"UPDATE dr.backups SET started_at = '2026-11-20T05:00:00Z' "
                        f"WHERE backup_id = '{first}'")
    run_sql(catalog_db, f"UPDATE dr.backups SET started_at = '2026-11-20T07:00:00Z' "
                        f"WHERE backup_id = '{second}'")
    target = f"{dr_env.apps['shop']}_asof"
    try:
        proc = dr_env.drctl("restore", "shop", "--as-of", "2026-11-20T06:00:00Z",
                            "--target-db", target, "--json")
        out = json.loads(proc.stdout)
        assert out["backup_id"] == first
        assert f"at or before 2026-11-20T06:00:00Z: {first}, taken at" in out["chosen"]
    finally:
        drop_db(target)
    proc = dr_env.drctl("restore", "shop", "--as-of", "2020-01-01T00:00:00Z", "--target-db",
                        target, check=False)
    assert proc.returncode == 1 and "no verified backup taken at or before" in proc.stderr
    proc = dr_env.drctl("restore", "shop", "--as-of", "yesterday", "--target-db", target,
                        check=False)
    assert proc.returncode == 1 and "is not a time" in proc.stderr
