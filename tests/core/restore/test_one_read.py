"""A restore reads its copy once: the bytes the real stores hand out come to the stored size,
not twice it, streamed and spooled alike, and the result says so in `bytes_read`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from dr_assets.core.backup.take import run_backup
from dr_assets.core.format.manifest import BackupManifest
from dr_assets.core.pg.conninfo import ConnInfo
from dr_assets.core.restore.restore import restore_backup
from tests.support.env import DREnv
from tests.support.pg import PG_URL, drop_db, schema_of, table_checksums
from tests.support.stores import counted_stores

TARGET = ConnInfo.parse(f"{PG_URL}/postgres")


def server_objects_bytes(manifest: BackupManifest) -> int:
    return manifest.server_objects.stored_bytes if manifest.server_objects else 0


def test_streamed_and_parallel_restores_read_the_stored_size_once(
    dr_env: DREnv, tmp_path: Path, make_db: Callable[[str], str]
) -> None:
    rt = dr_env.runtime()
    manifest = run_backup(rt.config, "shop", keyring=rt.keyring, stores=rt.stores,
                          catalog=rt.catalog).manifest
    source = dr_env.apps["shop"]
    source_schema, source_sums = schema_of(source), table_checksums(source)

    stores = counted_stores(rt.config)
    streamed = make_db("streamed")
    drop_db(streamed)
    result = restore_backup(manifest, target_db=streamed, target=TARGET,
                            stores=list(stores.values()), keyring=rt.keyring)
    assert result.source_destination == "local" and result.loaded_with == "stream"
    # The dump once, and beside it the few hundred bytes of the server objects, once.
    assert stores["local"].bytes_read == manifest.stored_bytes + server_objects_bytes(manifest)
    assert stores["s3"].bytes_read == 0
    assert result.bytes_read == manifest.stored_bytes
    assert schema_of(streamed) == source_schema and table_checksums(streamed) == source_sums

    # In parallel, from S3 this time: the spool is written while the copy is hashed.
    s3 = counted_stores(rt.config)["s3"]
    parallel = make_db("parallel")
    drop_db(parallel)
    spool = tmp_path / "spool"
    spool.mkdir()
    result = restore_backup(manifest, target_db=parallel, target=TARGET, stores=[s3],
                            keyring=rt.keyring, jobs=2, spool_dir=spool)
    assert result.loaded_with == "parallel (2 jobs, spooled)"
    assert s3.bytes_read - server_objects_bytes(manifest) == manifest.stored_bytes == result.bytes_read
    assert schema_of(parallel) == source_schema and table_checksums(parallel) == source_sums
    assert list(spool.iterdir()) == []
