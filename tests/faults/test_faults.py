"""Faults injected for real: S3 dies mid-upload, pg_dump is killed mid-stream."""

from __future__ import annotations

import os
import secrets
import signal
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from dr_assets.core.backup.take import run_backup
from dr_assets.core.copies.verify import verify_backup
from dr_assets.core.errors import BackupError, LockBusy
from dr_assets.core.format.manifest import object_key
from tests.support.env import BUCKET, DREnv, write_config
from tests.support.faults import OwnS3, children_named, fill


def test_s3_dies_during_upload_backup_degraded_then_sync_repairs(
    tmp_path: Path, own_s3: OwnS3, catalog_db: str, make_db: Callable[[str], str],
) -> None:
    db = make_db("big")
    fill(db, 400_000)
    env = DREnv(tmp_path, write_config(tmp_path, own_s3.server, "outage", catalog_db,
                                       {"big": db}), own_s3.server, "outage", {"big": db},
                catalog_db)
    rt = env.runtime()
    stopped = threading.Event()

    def stop_s3_once(raw: int, stored: int, elapsed: float) -> None:
        if not stopped.is_set() and stored > 6 << 20:  # past the first 5 MiB part
            own_s3.stop()
            stopped.set()

    result = run_backup(rt.config, "big", keyring=rt.keyring, stores=rt.stores,
                        catalog=rt.catalog, progress=stop_s3_once)
    assert stopped.is_set(), "the dump was too small to stop S3 mid-upload"
    m = result.manifest
    assert m.status == "degraded"
    assert m.destinations["local"].status == "ok"
    assert m.destinations["s3"].status == "failed" and "s3" in (m.destinations["s3"].error or "")
    row = rt.catalog.get_backup(m.backup_id)
    assert row is not None and row.status == "degraded" and "s3" in (row.error or "")
    # The local copy is whole.
    assert verify_backup(m, [s for s in rt.stores if s.name == "local"]).ok

    # S3 comes back on the same ports and data dir; sync uploads and verifies the copy.
    own_s3.restart()
    proc = env.drctl("catalog", "sync", "--json")
    assert f"{m.backup_id} -> s3" in proc.stdout
    row = env.runtime().catalog.get_backup(m.backup_id)
    assert row is not None and row.status == "completed"
    assert {n: c.status for n, c in row.copies.items()} == {"s3": "ok", "local": "ok"}
    verify = env.drctl("verify", m.backup_id, "--json")
    assert '"ok": true' in verify.stdout


def test_pg_dump_killed_leaves_no_valid_backup_and_no_partial_object(
    dr_env: DREnv, make_db: Callable[[str], str]
) -> None:
    db = make_db("killed")
    fill(db, 300_000)
    env = dr_env.with_apps({"killed": db})
    rt = env.runtime()
    killed: list[int] = []

    def kill_pg_dump(raw: int, stored: int, elapsed: float) -> None:
        if not killed:
            for pid in children_named("pg_dump"):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)

    with pytest.raises(BackupError, match="pg_dump of killed .* failed with exit -9"):
        run_backup(rt.config, "killed", keyring=rt.keyring, stores=rt.stores,
                   catalog=rt.catalog, progress=kill_pg_dump)
    assert killed
    [row] = rt.catalog.list_backups(app="killed")
    assert row.status == "failed" and "pg_dump" in (row.error or "")
    # No object, manifest or temp file on disk, nothing in S3, no open multipart upload.
    assert not list((env.local_dir / "killed").rglob("*")) or all(
        p.is_dir() for p in (env.local_dir / "killed").rglob("*"))
    s3 = env.s3.client()
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{env.s3_prefix}/killed/")  # type: ignore[attr-defined]
    keys = [o["Key"] for o in listed.get("Contents", [])]
    assert [k for k in keys if not k.endswith("/")] == [], keys
    uploads = s3.list_multipart_uploads(Bucket=BUCKET, Prefix=f"{env.s3_prefix}/killed/")  # type: ignore[attr-defined]
    assert not uploads.get("Uploads")
    assert not (env.local_dir / object_key(row.backup_id)).exists()


def test_two_backups_of_one_app_at_once_one_is_refused(
    dr_env: DREnv, make_db: Callable[[str], str]
) -> None:
    """Backups of one app are serialized by a PostgreSQL advisory lock in the catalog
    (backup ids are also unique per run, so even unlocked runs could not collide)."""
    rt = dr_env.runtime()
    gate, release = threading.Event(), threading.Event()
    results: dict[str, object] = {}

    def slow(raw: int, stored: int, elapsed: float) -> None:
        gate.set()
        release.wait(30)

    def first() -> None:
        results["first"] = run_backup(rt.config, "shop", keyring=rt.keyring, stores=rt.stores,
                                      catalog=rt.catalog, progress=slow)

    t = threading.Thread(target=first)
    t.start()
    assert gate.wait(30)
    proc = dr_env.drctl("backup", "shop", check=False)
    release.set()
    t.join()
    assert proc.returncode == 1 and "a backup of shop is already running" in proc.stderr
    with pytest.raises(LockBusy), rt.catalog.app_lock("shop"), rt.catalog.app_lock("shop"):
        pass
    second = dr_env.drctl("backup", "shop", "--json")
    assert secrets.compare_digest(second.returncode.to_bytes(1, "big"), b"\x00")
    assert len(rt.catalog.list_backups(app="shop", statuses=["completed"])) == 2
