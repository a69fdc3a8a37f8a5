"""Worst days, injected for real: S3 down, disk full, the source dropped or cut off
mid-dump, pg_restore killed, retention racing a restore, key rotation, object lock.
In every case: nothing is lost."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dr_assets.core.backup.take import run_backup
from dr_assets.core.copies.verify import verify_backup
from dr_assets.core.errors import BackupError, RestoreError
from dr_assets.core.format.manifest import object_key, server_objects_key
from dr_assets.core.health.alerting import evaluate, reconcile
from dr_assets.core.health.estate import estate_status
from dr_assets.core.pg.conninfo import ConnInfo
from dr_assets.core.restore.restore import restore_backup, restore_in_place
from dr_assets.core.retention.apply import apply_retention
from tests.support.env import BUCKET, DREnv, verified_backups, write_config
from tests.support.faults import OwnS3, children_named, fill
from tests.support.pg import PG_URL, db_exists, drop_db, run_sql


def _env_on(tmp_path: Path, s3: OwnS3, catalog_db: str, apps: dict[str, str],
            extra_s3: str = "", local_path: str | None = None) -> DREnv:
    prefix = f"t{secrets.token_hex(3)}"
    path = write_config(tmp_path, s3.server, prefix, catalog_db, apps, extra_s3=extra_s3,
                        local_path=local_path)
    return DREnv(tmp_path, path, s3.server, prefix, apps, catalog_db)


def _filled(make_db: Callable[[str], str], app: str, rows: int) -> dict[str, str]:
    """A new database for `app` holding `rows` rows: the apps of a test's dr.toml."""
    db = make_db(app)
    fill(db, rows)
    return {app: db}


def _no_partials(env: DREnv, app: str, s3: object) -> None:
    local = env.local_dir / app if env.local_dir.exists() else None
    if local is not None and local.exists():
        assert [p for p in local.rglob("*") if p.is_file()] == []
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{env.s3_prefix}/{app}/")  # type: ignore[attr-defined]
    assert [o["Key"] for o in listed.get("Contents", []) if not o["Key"].endswith("/")] == []
    ups = s3.list_multipart_uploads(Bucket=BUCKET, Prefix=f"{env.s3_prefix}/{app}/")  # type: ignore[attr-defined]
    assert not ups.get("Uploads")


def test_s3_down_before_the_backup_degraded_alerted_then_repaired(
    tmp_path: Path, own_s3: OwnS3, catalog_db: str, make_db: Callable[[str], str]
) -> None:
    env = _env_on(tmp_path, own_s3, catalog_db, _filled(make_db, "s3down", 20_000))
    own_s3.stop()
    rt = env.runtime()
    m = run_backup(rt.config, "s3down", keyring=rt.keyring, stores=rt.stores,
                   catalog=rt.catalog).manifest
    assert m.status == "degraded" and m.destinations["local"].status == "ok"
    assert verify_backup(m, rt.stores, rt.catalog).ok  # the local copy is whole
    status = estate_status(rt.config, rt.catalog)
    conditions = evaluate(rt.config.apps, status.facts, {a.app: a for a in status.health.apps},
                          status.now)
    changes = reconcile(rt.catalog, conditions)
    assert "backup_degraded" in {a["kind"] for a in changes.opened}
    own_s3.restart()
    report = json.loads(env.drctl("catalog", "sync", "--json").stdout)
    assert report["copies_repaired"] == [f"{m.backup_id} -> s3"]
    assert json.loads(env.drctl("verify", m.backup_id, "--json").stdout)["ok"] is True
    status = estate_status(rt.config, rt.catalog)
    changes = reconcile(rt.catalog, evaluate(rt.config.apps, status.facts,
                                             {a.app: a for a in status.health.apps}, status.now))
    assert "backup_degraded" in {a.kind for a in changes.resolved}


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs: a real full disk (needs mount rights, as root on this machine kind)."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({proc.stderr.strip()})")
    yield mnt
    subprocess.run(["umount", str(mnt)], check=False)


def test_local_disk_full_s3_copy_valid_backup_degraded(
    tmp_path: Path, own_s3: OwnS3, catalog_db: str, make_db: Callable[[str], str],
    tiny_disk: Path,
) -> None:
    env = _env_on(tmp_path, own_s3, catalog_db, _filled(make_db, "diskfull", 60_000),
                  local_path=str(tiny_disk))
    rt = env.runtime()
    m = run_backup(rt.config, "diskfull", keyring=rt.keyring, stores=rt.stores,
                   catalog=rt.catalog).manifest
    assert m.stored_bytes > 1 << 20
    assert m.status == "degraded"
    assert "No space left on device" in (m.destinations["local"].error or "")
    assert verify_backup(m, rt.stores, rt.catalog).ok  # only the S3 copy is expected
    assert [p for p in tiny_disk.rglob("*") if p.is_file()] == []  # no partial file left


@pytest.mark.parametrize("fault", ["source dropped", "connection cut"])
def test_source_lost_mid_dump_leaves_nothing_valid(
    dr_env: DREnv, make_db: Callable[[str], str], fault: str
) -> None:
    db = make_db("lost")
    fill(db, 300_000)
    env = dr_env.with_apps({"lost": db})
    rt = env.runtime()
    done: list[str] = []

    def strike(raw: int, stored: int, elapsed: float) -> None:
        if done:
            return
        done.append(fault)
        if fault == "source dropped":
            drop_db(db)
        else:
            run_sql("postgres", "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                f"WHERE datname = '{db}' AND application_name = 'pg_dump'")

    with pytest.raises(BackupError, match="pg_dump of lost .* failed"):
        run_backup(rt.config, "lost", keyring=rt.keyring, stores=rt.stores, catalog=rt.catalog,
                   progress=strike)
    [row] = rt.catalog.list_backups(app="lost")
    assert row.status == "failed" and row.manifest is None
    _no_partials(env, "lost", env.s3.client())


def test_restore_killed_midway_leaves_no_half_database_and_replace_keeps_original(
    dr_env: DREnv, make_db: Callable[[str], str]
) -> None:
    db = make_db("victim")
    fill(db, 300_000)
    env = dr_env.with_apps({"victim": db})
    rt = env.runtime()
    m = run_backup(rt.config, "victim", keyring=rt.keyring, stores=rt.stores,
                   catalog=rt.catalog).manifest
    server = ConnInfo.parse(f"{PG_URL}/postgres")
    killer_stop = threading.Event()

    def kill_pg_restore() -> None:
        while not killer_stop.is_set():
            for pid in children_named("pg_restore"):
                # The restore itself, not a `pg_restore --version` probe.
                if b"--exit-on-error" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    os.kill(pid, signal.SIGKILL)
                    return
            killer_stop.wait(0.05)

    for attempt in ("new", "replace"):
        killer = threading.Thread(target=kill_pg_restore)
        killer.start()
        target = f"{db}_new" if attempt == "new" else db
        try:
            with pytest.raises(RestoreError, match="pg_restore failed"):
                if attempt == "new":
                    restore_backup(m, target_db=target, target=server, stores=rt.stores,
                                   keyring=rt.keyring, catalog=rt.catalog)
                else:
                    restore_in_place(m, target_db=target, target=server, stores=rt.stores,
                                     keyring=rt.keyring, catalog=rt.catalog,
                                     force_disconnect=True)
        finally:
            killer_stop.set()
            killer.join()
            killer_stop.clear()
        leftovers = run_sql("postgres", f"SELECT datname FROM pg_database WHERE datname LIKE "
                                        f"'{db}_%'")
        assert leftovers == [], leftovers
    assert run_sql(db, "SELECT count(*) FROM events") == [(300_000,)]
    # A target server that refuses the restore (nothing listens there): clear error.
    with pytest.raises(Exception, match="cannot connect|could not connect|Connection refused"):
        restore_backup(m, target_db=f"{db}_x", target=ConnInfo.parse(
            "postgresql://postgres@127.0.0.1:1/postgres"), stores=rt.stores, keyring=rt.keyring)


def test_retention_skips_a_backup_a_restore_is_reading(dr_env: DREnv) -> None:
    text = dr_env.config_path.read_text().replace("retention_days = 90",
                                                  "retention_days = 1\nmin_keep = 1")
    dr_env.config_path.write_text(text)
    rt = dr_env.runtime()
    ids = [m.backup_id for m in verified_backups(rt, "shop", 3)]
    run_sql(dr_env.catalog_db, "UPDATE dr.backups SET started_at = now() - interval '5 days'"
                               f" WHERE backup_id IN ('{ids[0]}', '{ids[1]}')")
    policy = rt.config.app("shop")
    with rt.catalog.backup_lease(ids[0]):  # what a restore or drill holds while reading
        outcome = apply_retention(policy, stores=rt.stores, catalog=rt.catalog, dry_run=False)
    assert outcome.deleted == [ids[1]]
    reasons = {d.backup_id: d.reason for d in outcome.plan.decisions}
    assert "in use" in reasons[ids[0]]
    assert (dr_env.local_dir / object_key(ids[0])).exists()
    outcome = apply_retention(policy, stores=rt.stores, catalog=rt.catalog, dry_run=False)
    assert outcome.deleted == [ids[0]]  # released: the next run takes it


def test_key_rotation_keeps_old_backups_restorable(dr_env: DREnv, tmp_path: Path,
                                                   make_db: Callable[[str], str]) -> None:
    rt = dr_env.runtime()
    old = run_backup(rt.config, "shop", keyring=rt.keyring, stores=rt.stores,
                     catalog=rt.catalog).manifest
    out = json.loads(dr_env.drctl("key", "rotate", str(tmp_path / "keys" / "new.key"),
                                  "--json").stdout)
    text = dr_env.config_path.read_text().replace(
        'key_file = "keys/master.key"',
        'key_file = "keys/new.key"\nprevious_key_files = ["keys/master.key"]')
    dr_env.config_path.write_text(text)
    rt = dr_env.runtime()
    new = run_backup(rt.config, "shop", keyring=rt.keyring, stores=rt.stores,
                     catalog=rt.catalog).manifest
    assert new.encryption.key_id == out["new_key_id"] != old.encryption.key_id
    for m in (old, new):
        target = make_db("rot")
        drop_db(target)
        dr_env.drctl("restore", m.backup_id, "--target-db", target)
        assert run_sql(target, "SELECT count(*) FROM orders") == [(20000,)]
    dr_env.config_path.write_text(text.replace('previous_key_files = ["keys/master.key"]', ""))
    proc = dr_env.drctl("restore", old.backup_id, "--target-db", "never_made", check=False)
    assert proc.returncode == 1 and f"master key {old.encryption.key_id} is not configured" in proc.stderr
    assert not db_exists("never_made")


def test_object_lock_protects_backups_and_retention_says_so(
    tmp_path: Path, own_s3: OwnS3, catalog_db: str, make_db: Callable[[str], str]
) -> None:
    s3 = own_s3.server.client()
    bucket = "dr-locked"
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)  # type: ignore[attr-defined]
    env = _env_on(tmp_path, own_s3, catalog_db, _filled(make_db, "locked", 2_000),
                  extra_s3="object_lock_days = 7")
    env.config_path.write_text(env.config_path.read_text()
                               .replace(f'bucket = "{BUCKET}"', f'bucket = "{bucket}"')
                               .replace("retention_days = 90", "retention_days = 1\nmin_keep = 1"))
    rt = env.runtime()
    ids = [m.backup_id for m in verified_backups(rt, "locked", 2)]
    key = f"{env.s3_prefix}/{object_key(ids[0])}"
    retention = s3.get_object_retention(Bucket=bucket, Key=key)["Retention"]  # type: ignore[attr-defined]
    assert retention["Mode"] == "COMPLIANCE"
    assert (retention["RetainUntilDate"] - datetime.now(UTC)).days >= 6
    version = s3.head_object(Bucket=bucket, Key=key)["VersionId"]  # type: ignore[attr-defined]
    with pytest.raises(Exception, match="AccessDenied|Access Denied"):
        s3.delete_object(Bucket=bucket, Key=key, VersionId=version)  # type: ignore[attr-defined]
    # The server objects beside the dump are locked as long.
    beside = f"{env.s3_prefix}/{server_objects_key(ids[0])}"
    locked = s3.get_object_retention(Bucket=bucket, Key=beside)["Retention"]  # type: ignore[attr-defined]
    assert locked["Mode"] == "COMPLIANCE" and (locked["RetainUntilDate"] - datetime.now(UTC)).days >= 6
    run_sql(catalog_db, f"UPDATE dr.backups SET started_at = now() - interval '5 days'"
                        f" WHERE backup_id = '{ids[0]}'")
    outcome = apply_retention(rt.config.app("locked"), stores=rt.stores, catalog=rt.catalog,
                              dry_run=False)
    assert outcome.deleted == []
    [decision] = [d for d in outcome.plan.decisions if d.backup_id == ids[0]]
    assert not decision.delete and "Object Lock" in decision.reason


def test_an_unreachable_store_is_an_outage_not_corruption(
    tmp_path: Path, own_s3: OwnS3, catalog_db: str, make_db: Callable[[str], str]
) -> None:
    env = _env_on(tmp_path, own_s3, catalog_db, _filled(make_db, "outage", 2_000))
    rt = env.runtime()
    m = run_backup(rt.config, "outage", keyring=rt.keyring, stores=rt.stores,
                   catalog=rt.catalog).manifest
    assert verify_backup(m, rt.stores, rt.catalog).ok
    own_s3.stop()
    result = verify_backup(m, rt.stores, rt.catalog)
    [failure] = result.failures
    assert not result.ok and failure.destination == "s3" and failure.unreachable
    row = rt.catalog.get_backup(m.backup_id)
    assert row is not None and row.copies["s3"].verified_ok is True  # not marked corrupt
    facts = rt.catalog.app_facts(["outage"], datetime.now(UTC))
    assert facts["outage"].integrity == "ok"
