"""The stores are the truth: a lost catalog is rebuilt from the manifests alone."""

from __future__ import annotations

import json
import secrets

from dr_assets.core.backup.take import run_backup
from dr_assets.core.format.manifest import object_key
from tests.support.env import DREnv, write_config
from tests.support.pg import drop_db


def test_lost_catalog_is_rebuilt_from_the_stores(dr_env: DREnv) -> None:
    rt = dr_env.runtime()
    made = [run_backup(rt.config, "shop", keyring=rt.keyring, stores=rt.stores,
                       catalog=rt.catalog).manifest for _ in range(2)]
    # Make the second one degraded for real: its S3 copy disappears.
    s3 = dr_env.s3.client()
    s3.delete_object(Bucket="dr-backups",  # type: ignore[attr-defined]
                     Key=f"{dr_env.s3_prefix}/{object_key(made[1].backup_id)}")

    fresh = f"drt_catalog_{secrets.token_hex(4)}"
    try:
        path = write_config(dr_env.root, dr_env.s3, dr_env.s3_prefix, fresh, dr_env.apps)
        env = DREnv(dr_env.root, path, dr_env.s3, dr_env.s3_prefix, dr_env.apps, fresh)
        assert json.loads(env.drctl("backups", "--json").stdout) == []
        report = json.loads(env.drctl("catalog", "sync", "--json").stdout)
        assert report["backups_found"] == 2
        assert report["copies_repaired"] == [f"{made[1].backup_id} -> s3"]
        rows = {r["backup_id"]: r for r in json.loads(env.drctl("backups", "--json").stdout)}
        assert set(rows) == {m.backup_id for m in made}
        for m in made:
            assert rows[m.backup_id]["sha256"] == m.sha256
            assert rows[m.backup_id]["status"] == "completed"
            assert rows[m.backup_id]["stored_bytes"] == m.stored_bytes
        # A copy deleted from every store is marked deleted in the catalog on the next sync.
        for store in env.runtime().stores:
            store.delete(object_key(made[0].backup_id))
            store.delete(object_key(made[0].backup_id).replace(".dump.zst.enc", ".manifest.json"))
        report = json.loads(env.drctl("catalog", "sync", "--json").stdout)
        assert report["marked_deleted"] == [made[0].backup_id]
        assert [r["backup_id"] for r in json.loads(env.drctl("backups", "--json").stdout)] == [
            made[1].backup_id]
    finally:
        drop_db(fresh)
