"""Backups land in S3 and on disk with a manifest, and restore faithfully (the project's
fidelity fixture, and Pagila too where it lies beside the checkout)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from dr_assets.core.backup.take import run_backup
from dr_assets.core.copies.locate import find_manifest
from dr_assets.core.errors import InvalidName, RestoreError
from dr_assets.core.format.manifest import manifest_key, object_key
from dr_assets.core.pg.conninfo import ConnInfo
from dr_assets.core.restore.restore import restore_backup
from dr_assets.devstack.seaweed import SeaweedServer
from tests.support.env import BUCKET, DREnv, write_config
from tests.support.pg import (
    PG_URL,
    db_exists,
    drop_db,
    large_objects,
    load_fidelity,
    run_sql,
    schema_of,
    sequence_positions,
    table_checksums,
)

# Each fixture with the row counts of a few tables, proof that it loaded in full.
FIXTURES = [
    pytest.param(load_fidelity, {
        "shop.orders": 1500, "shop.order_events": 1748, "shop.price_history": 240,
        "ledger.entries_2024_q1": 273, "ledger.entries_other": 174,
        "ledger.balances_apac_2": 30, "ledger.balances_rest": 120,
        'Odd "Names" ✓.Mixed Case "Table" ñ': 100,
    }, id="fidelity"),
]


@pytest.mark.parametrize(("load", "row_counts"), FIXTURES)
def test_restores_identically(
    load: Callable[[str], None], row_counts: dict[str, int], tmp_path: Path,
    s3_server: SeaweedServer, catalog_db: str, make_db: Callable[[str], str]
) -> None:
    source = make_db("fidelity")
    load(source)
    env = DREnv(tmp_path, write_config(tmp_path, s3_server, "fidelity", catalog_db,
                                       {"fidelity": source}),
                s3_server, "fidelity", {"fidelity": source}, catalog_db)
    backup = json.loads(env.drctl("backup", "fidelity", "--json").stdout)
    assert backup["status"] == "completed"
    assert set(backup["destinations"]) == {"s3", "local"}
    assert {t: backup["row_counts"][t] for t in row_counts} == row_counts

    target = make_db("restored")
    drop_db(target)  # restore creates it
    out = json.loads(env.drctl("restore", backup["backup_id"], "--target-db", target,
                               "--json").stdout)
    assert out["target_database"] == target and out["loaded_with"] == "stream"
    assert schema_of(target) == schema_of(source)
    source_sums = table_checksums(source)
    assert table_checksums(target) == source_sums
    # Sequences continue where the source was, and large objects keep their OIDs and bytes.
    source_sequences, source_objects = sequence_positions(source), large_objects(source)
    assert sequence_positions(target) == source_sequences
    assert large_objects(target) == source_objects

    # In parallel through a spool file: the same database, and no plaintext left behind.
    spool = tmp_path / "spool"
    spool.mkdir()
    parallel = make_db("restored_parallel")
    drop_db(parallel)
    out = json.loads(env.drctl("restore", backup["backup_id"], "--target-db", parallel,
                               "--jobs", "2", "--spool-dir", str(spool), "--json").stdout)
    assert out["loaded_with"] == "parallel (2 jobs, spooled)"
    assert schema_of(parallel) == schema_of(source)
    assert table_checksums(parallel) == source_sums
    assert sequence_positions(parallel) == source_sequences
    assert large_objects(parallel) == source_objects
    assert list(spool.iterdir()) == []


def test_backup_writes_object_and_manifest_to_every_store(dr_env: DREnv) -> None:
    rt = dr_env.runtime()
    result = run_backup(rt.config, "shop", keyring=rt.keyring, stores=rt.stores,
                        catalog=rt.catalog)
    m = result.manifest
    assert m.status == "completed" and m.row_counts == {"public.customers": 3000,
                                                        "public.orders": 20000}
    assert m.raw_bytes > m.stored_bytes > 0
    # Local: the object and manifest sit under <app>/<YYYY>/<MM>/<DD>/.
    local_obj = dr_env.local_dir / object_key(m.backup_id)
    assert local_obj.stat().st_size == m.stored_bytes
    on_disk = json.loads((dr_env.local_dir / manifest_key(m.backup_id)).read_text())
    assert on_disk["sha256"] == m.sha256 and on_disk["format_version"] == 2
    # Beside it, the server objects (roles, the database's properties), encrypted.
    assert m.server_objects is not None and on_disk["server_objects"]["key"] == m.server_objects.key
    assert (dr_env.local_dir / m.server_objects.key).stat().st_size == m.server_objects.stored_bytes
    assert on_disk["encryption"]["algorithm"] == "AES-256-GCM"
    assert on_disk["encryption"]["key_id"] == rt.keyring.current.key_id
    assert "password" not in json.dumps(on_disk).lower()
    # S3: same bytes under the prefix.
    s3 = dr_env.s3.client()
    head = s3.head_object(Bucket=BUCKET, Key=f"{dr_env.s3_prefix}/{object_key(m.backup_id)}")  # type: ignore[attr-defined]
    assert head["ContentLength"] == m.stored_bytes
    # Catalog: one completed row with both copies.
    row = rt.catalog.get_backup(m.backup_id)
    assert row is not None and row.status == "completed"
    assert {n: c.status for n, c in row.copies.items()} == {"s3": "ok", "local": "ok"}
    assert row.sha256 == m.sha256
    # And from the stores alone, the manifest is the same.
    assert find_manifest(m.backup_id, rt.stores, None).sha256 == m.sha256


def test_restore_refuses_existing_and_hostile_targets(dr_env: DREnv) -> None:
    rt = dr_env.runtime()
    result = run_backup(rt.config, "shop", keyring=rt.keyring, stores=rt.stores,
                        catalog=rt.catalog)
    target = ConnInfo.parse(f"{PG_URL}/postgres")
    existing = dr_env.apps["shop"]
    with pytest.raises(RestoreError, match="already exists"):
        restore_backup(result.manifest, target_db=existing, target=target, stores=rt.stores,
                       keyring=rt.keyring)
    assert run_sql(existing, "SELECT count(*) FROM orders") == [(20000,)]
    hostile = 'x"; DROP DATABASE postgres; --'
    with pytest.raises(InvalidName, match="not an acceptable database name"):
        restore_backup(result.manifest, target_db=hostile, target=target, stores=rt.stores,
                       keyring=rt.keyring)
    assert db_exists("postgres")
    proc = dr_env.drctl("restore", result.backup_id, "--target-db", hostile, check=False)
    assert proc.returncode == 1 and "not an acceptable database name" in proc.stderr


def test_restore_fails_cleanly_when_rows_do_not_match(dr_env: DREnv, make_db: Callable[[str], str]
                                                      ) -> None:
    """A manifest promising other row counts is caught after pg_restore; the target is dropped."""
    rt = dr_env.runtime()
    m = run_backup(rt.config, "shop", keyring=rt.keyring, stores=rt.stores,
                   catalog=rt.catalog).manifest
    from dataclasses import replace

    lying = replace(m, row_counts={**m.row_counts, "public.orders": 19999})
    target = make_db("mismatch")
    drop_db(target)
    with pytest.raises(RestoreError, match="public.orders: expected 19999 rows, found 20000"):
        restore_backup(lying, target_db=target, target=ConnInfo.parse(f"{PG_URL}/postgres"),
                       stores=rt.stores, keyring=rt.keyring, catalog=rt.catalog)
    assert not db_exists(target)
    last = rt.catalog.list_restores(limit=1)[0]
    assert last.status == "failed" and last.error is not None and "expected 19999" in last.error
