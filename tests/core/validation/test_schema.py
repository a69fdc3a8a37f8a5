"""The schema fingerprint on real servers: taken in the dump's snapshot, stable when taken
twice, identical after a restore of the fidelity fixture on every restore path, naming what
a changed copy lacks, adds or defines otherwise, failing (and dropping) a restore whose
schema differs, and skipped for version-1 backups, which have none."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from dr_assets.core.backup import take
from dr_assets.core.backup.take import run_backup
from dr_assets.core.copies.verify import verify_backup
from dr_assets.core.drills.drill import run_drill
from dr_assets.core.errors import RestoreError
from dr_assets.core.format.fingerprint import SchemaFingerprint, compare
from dr_assets.core.format.manifest import BackupManifest
from dr_assets.core.pg.conninfo import ConnInfo
from dr_assets.core.restore import restore as restore_module
from dr_assets.core.restore.restore import restore_backup, restore_in_place
from dr_assets.core.validation.schema import MATCHED, NOT_RECORDED, take_fingerprint
from dr_assets.devstack.seaweed import SeaweedServer
from tests.core.format.test_format_v1 import BACKUP_ID as V1_BACKUP_ID
from tests.core.format.test_format_v1 import v1_env
from tests.support.env import DREnv, write_config
from tests.support.pg import PG_URL, db_exists, drop_db, load_fidelity, run_sql

SERVER = ConnInfo.parse(f"{PG_URL}/postgres")


def fingerprint_of(db: str) -> SchemaFingerprint:
    conn = psycopg2.connect(f"{PG_URL}/{db}")
    conn.autocommit = True
    try:
        return take_fingerprint(conn)
    finally:
        conn.close()


@pytest.fixture
def fidelity(tmp_path: Path, s3_server: SeaweedServer, catalog_db: str,
             make_db: Callable[[str], str]) -> tuple[DREnv, BackupManifest]:
    """The fidelity fixture, backed up."""
    source = make_db("fidelity")
    load_fidelity(source)
    apps = {"fidelity": source}
    env = DREnv(tmp_path, write_config(tmp_path, s3_server, "fp", catalog_db, apps),
                s3_server, "fp", apps, catalog_db)
    rt = env.runtime()
    manifest = run_backup(rt.config, "fidelity", keyring=rt.keyring, stores=rt.stores,
                          catalog=rt.catalog).manifest
    return env, manifest


@pytest.fixture
def target() -> Iterator[str]:
    name = "drt_fp_restored"
    drop_db(name)
    yield name
    drop_db(name)


def test_fidelity_fingerprint_is_stable_and_identical_after_restores(
        fidelity: tuple[DREnv, BackupManifest], target: str) -> None:
    env, manifest = fidelity
    source = env.apps["fidelity"]
    recorded = manifest.schema_fingerprint
    assert recorded is not None and recorded.server_major == 15
    assert len(recorded.objects) > 300
    # Taken twice, outside the dump's snapshot: the same as the one in the manifest.
    assert fingerprint_of(source) == recorded == fingerprint_of(source)
    # Restored into a new database, from the catalog's record of the backup.
    rt = env.runtime()
    result = restore_backup(manifest, target_db=target, target=SERVER, stores=rt.stores,
                            keyring=rt.keyring, catalog=rt.catalog)
    assert result.schema_check == MATCHED
    assert fingerprint_of(target).digest == recorded.digest
    drop_db(target)
    # From the storage alone, through drctl.
    out = json.loads(env.drctl("restore", manifest.backup_id, "--from-storage", "--target-db",
                               target, "--json").stdout)
    assert out["schema_check"] == MATCHED
    text = env.drctl("restore", manifest.backup_id, "--from-storage", "--target-db",
                     "drt_fp_restored_text").stdout
    drop_db("drt_fp_restored_text")
    assert "row counts match the manifest; schema fingerprint matches" in text

    # A changed copy: each difference is named.
    run_sql(target, """
        ALTER TABLE shop.orders ADD COLUMN injected integer;
        CREATE OR REPLACE VIEW shop.live_products AS
          SELECT sku, title, price FROM shop.products WHERE NOT discontinued AND price > 1
          WITH CASCADED CHECK OPTION;
        DROP INDEX shop.products_live_price_idx;
    """)
    diff = compare(recorded, fingerprint_of(target))
    assert diff.missing == ["index shop.products.products_live_price_idx"]
    assert diff.extra == ["column shop.orders.injected"]
    assert diff.changed == ["table shop.orders", "view shop.live_products"]


def test_the_fingerprint_is_of_the_dump_s_snapshot(dr_env: DREnv, target: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A table created after the snapshot was exported is in neither the dump nor the
    fingerprint, so the restore matches."""
    db = dr_env.apps["shop"]
    real = take.take_fingerprint

    def create_then_take(conn: Any) -> SchemaFingerprint:
        run_sql(db, "CREATE TABLE late_arrival (id int)")
        return real(conn)

    monkeypatch.setattr(take, "take_fingerprint", create_then_take)
    rt = dr_env.runtime()
    manifest = run_backup(rt.config, "shop", keyring=rt.keyring, stores=rt.stores,
                          catalog=rt.catalog).manifest
    assert manifest.schema_fingerprint is not None
    assert "table public.late_arrival" not in manifest.schema_fingerprint.objects
    assert "table public.late_arrival" in fingerprint_of(db).objects
    result = restore_backup(manifest, target_db=target, target=SERVER, stores=rt.stores,
                            keyring=rt.keyring)
    assert result.schema_check == MATCHED


def test_in_place_restore_compares_the_schema_too(dr_env: DREnv) -> None:
    rt = dr_env.runtime()
    db = dr_env.apps["shop"]
    manifest = run_backup(rt.config, "shop", keyring=rt.keyring, stores=rt.stores,
                          catalog=rt.catalog).manifest
    replaced = restore_in_place(manifest, target_db=db, target=SERVER, stores=rt.stores,
                                keyring=rt.keyring, catalog=rt.catalog)
    assert replaced.restore.schema_check == MATCHED
    drop_db(replaced.swap.previous)


def test_a_restore_whose_schema_differs_fails_and_drops_the_target(
        fidelity: tuple[DREnv, BackupManifest], target: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The injected fault: pg_restore cannot restore another schema than the dump's, so the
    test alters the target right after the real load, before the restore validates it."""
    env, manifest = fidelity
    rt = env.runtime()
    real_load = restore_module.load

    def load_then_alter(*args: Any, **kwargs: Any) -> str:
        how = real_load(*args, **kwargs)
        run_sql(target, "ALTER TABLE shop.orders ADD COLUMN injected integer;"
                        " DROP INDEX shop.orders_recent_idx")
        return how

    monkeypatch.setattr(restore_module, "load", load_then_alter)
    with pytest.raises(RestoreError) as failed:
        restore_backup(manifest, target_db=target, target=SERVER, stores=rt.stores,
                       keyring=rt.keyring, catalog=rt.catalog)
    assert str(failed.value) == (
        f"restored {target} does not match backup {manifest.backup_id}: its schema differs: "
        "index shop.orders.orders_recent_idx: missing; column shop.orders.injected: extra; "
        "table shop.orders: changed")
    assert not db_exists(target)
    [last] = rt.catalog.list_restores(limit=1)
    assert last.status == "failed" and last.error is not None
    assert "column shop.orders.injected: extra" in last.error


def test_a_drill_whose_restored_schema_differs_fails(dr_env: DREnv,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The same injected fault, in a drill: the scratch copy gains an index after the load."""
    rt = dr_env.runtime()
    manifest = run_backup(rt.config, "shop", keyring=rt.keyring, stores=rt.stores,
                          catalog=rt.catalog).manifest
    verify_backup(manifest, rt.stores, rt.catalog)
    real_load = restore_module.load

    def load_then_alter(args: list[str], *rest: Any, **kwargs: Any) -> str:
        how = real_load(args, *rest, **kwargs)
        # On the server pg_restore loaded into: an isolated drill's is a throwaway one.
        conn = psycopg2.connect(host=args[args.index("-h") + 1], port=args[args.index("-p") + 1],
                                user="postgres", dbname=args[args.index("-d") + 1])
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("CREATE INDEX orders_note_idx ON orders (note)")
        conn.close()
        return how

    monkeypatch.setattr(restore_module, "load", load_then_alter)
    result = run_drill(rt.config.app("shop"), stores=rt.stores, keyring=rt.keyring,
                       catalog=rt.catalog)
    assert not result.passed and result.scratch_dropped and not db_exists(result.scratch_database)
    assert result.error is not None
    assert result.error.endswith("its schema differs: index public.orders.orders_note_idx: extra")


def test_a_version_1_backup_is_restored_without_a_schema_comparison(
        tmp_path: Path, s3_server: SeaweedServer, catalog_db: str, target: str) -> None:
    env = v1_env(tmp_path, s3_server, catalog_db)
    out = json.loads(env.drctl("restore", V1_BACKUP_ID, "--from-storage", "--target-db", target,
                               "--json").stdout)
    assert out["schema_check"] == NOT_RECORDED
