"""Backups outlive code versions: a version-1 backup made before format_version 2 still
verifies and restores, from the storage alone, identical to its source."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from dr_assets.devstack.seaweed import SeaweedServer
from tests.support.env import DREnv, write_config
from tests.support.pg import drop_db, schema_of, sequence_positions, table_checksums

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "format_v1"
EXPECTED = json.loads((FIXTURE / "expected.json").read_text())
BACKUP_ID = EXPECTED["backup_id"]
APPS = {"ledger": "dr_v1_ledger"}  # the source database is gone; restores make new ones


def v1_env(tmp_path: Path, s3_server: SeaweedServer, catalog_db: str) -> DREnv:
    """The fixture's store as the local destination, its key as the master key."""
    shutil.copytree(FIXTURE / "store", tmp_path / "v1-store")
    (tmp_path / "keys").mkdir()
    shutil.copy(FIXTURE / "keys" / "master.key", tmp_path / "keys" / "master.key")
    (tmp_path / "keys" / "master.key").chmod(0o600)  # git keeps it 0644: a key must be private
    path = write_config(tmp_path, s3_server, "v1", catalog_db, APPS, local_path="v1-store")
    return DREnv(tmp_path, path, s3_server, "v1", APPS, catalog_db)


def test_version_1_backup_is_still_a_version_1_backup() -> None:
    [manifest] = (FIXTURE / "store").rglob("*.manifest.json")
    assert json.loads(manifest.read_text())["format_version"] == 1


def test_version_1_backup_verifies_and_restores_from_storage(
        tmp_path: Path, s3_server: SeaweedServer, catalog_db: str) -> None:
    env = v1_env(tmp_path, s3_server, catalog_db)
    listed = json.loads(env.drctl("backups", "--from-storage", "--json").stdout)
    assert [b["backup_id"] for b in listed] == [BACKUP_ID]
    env.drctl("verify", BACKUP_ID, "--from-storage")
    target = "drt_v1_restored"
    drop_db(target)
    try:
        out = json.loads(env.drctl("restore", BACKUP_ID, "--from-storage", "--target-db",
                                   target, "--json").stdout)
        assert out["target_database"] == target
        assert schema_of(target) + "\n" == (FIXTURE / "schema.sql").read_text()
        assert {k: list(v) for k, v in table_checksums(target).items()} == EXPECTED["tables"]
        assert json.loads(json.dumps(sequence_positions(target))) == EXPECTED["sequences"]
    finally:
        drop_db(target)
