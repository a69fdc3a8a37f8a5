"""A damaged copy is detected and named, and what it loaded is dropped; a good copy is used.
A chunk reaches PostgreSQL only once authenticated, and a copy counts as restored only once
its size and SHA-256 match the manifest, checked at the end of the one read."""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from dr_assets.core.backup.take import BackupResult, run_backup
from dr_assets.core.copies.verify import verify_backup
from dr_assets.core.errors import BackupNotFound, IntegrityError, MasterKeyError, RestoreError
from dr_assets.core.format.keys import Keyring, generate_key_file
from dr_assets.core.format.manifest import BackupManifest, manifest_key, object_key
from dr_assets.core.format.stream import HEADER_SIZE, TAG_SIZE, ChunkDecryptor
from dr_assets.core.pg.conninfo import ConnInfo
from dr_assets.core.restore.restore import restore_backup
from tests.support.env import BUCKET, DREnv
from tests.support.pg import PG_URL, db_exists, drop_db, run_sql, schema_of, table_checksums

TARGET = ConnInfo.parse(f"{PG_URL}/postgres")


def _backup(env: DREnv) -> BackupResult:
    rt = env.runtime()
    return run_backup(rt.config, "shop", keyring=rt.keyring, stores=rt.stores, catalog=rt.catalog)


def _flip_local(env: DREnv, backup_id: str, offset: int = 5000) -> None:
    path = env.local_dir / object_key(backup_id)
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x40
    path.write_bytes(bytes(data))


def _s3_key(env: DREnv, key: str) -> str:
    return f"{env.s3_prefix}/{key}"


def _fresh_target(make_db: Callable[[str], str]) -> str:
    name = make_db("target")
    drop_db(name)
    return name


def test_flipped_byte_on_disk_is_named_and_s3_copy_is_used(
    dr_env: DREnv, make_db: Callable[[str], str]
) -> None:
    result = _backup(dr_env)
    _flip_local(dr_env, result.backup_id)
    rt = dr_env.runtime()
    check = verify_backup(result.manifest, rt.stores, rt.catalog)
    assert not check.ok
    [bad] = check.failures
    assert bad.destination == "local"
    assert f"backup {result.backup_id} failed its checksum on local" in (bad.error or "")
    proc = dr_env.drctl("verify", result.backup_id, check=False)
    assert proc.returncode == 1 and "failed verification on local" in proc.stderr
    # The catalog remembers which copy failed.
    row = rt.catalog.get_backup(result.backup_id)
    assert row is not None and row.copies["local"].verified_ok is False
    assert row.copies["s3"].verified_ok is True

    target = _fresh_target(make_db)
    restored = restore_backup(result.manifest, target_db=target, target=TARGET, stores=rt.stores,
                              keyring=rt.keyring)
    assert restored.source_destination == "s3"
    assert "local" in restored.skipped_copies
    assert run_sql(target, "SELECT count(*) FROM orders") == [(20000,)]


def test_both_copies_bad_means_no_restore_and_nothing_created(
    dr_env: DREnv, make_db: Callable[[str], str]
) -> None:
    result = _backup(dr_env)
    _flip_local(dr_env, result.backup_id)
    s3 = dr_env.s3.client()
    key = _s3_key(dr_env, object_key(result.backup_id))
    body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()  # type: ignore[attr-defined]
    s3.put_object(Bucket=BUCKET, Key=key, Body=body[: len(body) // 2])  # type: ignore[attr-defined]
    target = _fresh_target(make_db)
    proc = dr_env.drctl("restore", result.backup_id, "--target-db", target, check=False)
    assert proc.returncode == 1
    assert "no good copy" in proc.stderr
    assert "failed its checksum on local" in proc.stderr
    assert "failed its checksum on s3" in proc.stderr and "bytes" in proc.stderr
    assert not db_exists(target)


def test_wrong_key_is_refused_before_any_database_is_created(
    dr_env: DREnv, tmp_path: Path, make_db: Callable[[str], str]
) -> None:
    result = _backup(dr_env)
    other = generate_key_file(tmp_path / "other.key")
    target = _fresh_target(make_db)
    with pytest.raises(MasterKeyError, match="is not configured"):
        restore_backup(result.manifest, target_db=target, target=TARGET,
                       stores=dr_env.runtime().stores, keyring=Keyring(current=other))
    # Same key id but different secret (a corrupted key file): unwrap fails.
    forged = replace(other, key_id=result.manifest.encryption.key_id)
    with pytest.raises(IntegrityError, match="does not unwrap"):
        restore_backup(result.manifest, target_db=target, target=TARGET,
                       stores=dr_env.runtime().stores, keyring=Keyring(current=forged))
    assert not db_exists(target)


def test_swapped_manifests_are_detected(dr_env: DREnv, make_db: Callable[[str], str]) -> None:
    first, second = _backup(dr_env), _backup(dr_env)
    # Put the first backup's manifest where the second's belongs, on disk and in S3.
    local_a = dr_env.local_dir / manifest_key(first.backup_id)
    local_b = dr_env.local_dir / manifest_key(second.backup_id)
    local_b.write_bytes(local_a.read_bytes())
    s3 = dr_env.s3.client()
    s3.put_object(Bucket=BUCKET, Key=_s3_key(dr_env, manifest_key(second.backup_id)),  # type: ignore[attr-defined]
                  Body=local_a.read_bytes())
    target = _fresh_target(make_db)
    proc = dr_env.drctl("restore", second.backup_id, "--target-db", target, "--from-storage",
                        check=False)
    assert proc.returncode == 1
    assert f"describes {first.backup_id}, not {second.backup_id}" in proc.stderr
    assert not db_exists(target)
    # And the object of one backup under the other's manifest fails its checksum.
    obj_a = dr_env.local_dir / object_key(first.backup_id)
    obj_b = dr_env.local_dir / object_key(second.backup_id)
    obj_b.write_bytes(obj_a.read_bytes())
    check = verify_backup(second.manifest, dr_env.runtime().stores)
    assert [c.destination for c in check.failures] == ["local"]


def test_unknown_and_malformed_ids(dr_env: DREnv) -> None:
    rt = dr_env.runtime()
    from dr_assets.core.copies.locate import find_manifest
    from dr_assets.core.errors import InvalidName

    with pytest.raises(InvalidName, match="is not a backup id"):
        find_manifest("../../etc/passwd", rt.stores, rt.catalog)
    with pytest.raises(BackupNotFound, match="not found"):
        find_manifest("shop-20200101T000000Z-abcd", rt.stores, rt.catalog)
    proc = dr_env.drctl("verify", "nope", "--json", check=False)
    assert proc.returncode == 1 and proc.stdout == "" and "is not a backup id" in proc.stderr


def test_restore_stream_failure_drops_target(dr_env: DREnv, make_db: Callable[[str], str]) -> None:
    """Fault injection the real store cannot produce: the copy on disk is good, but its bytes
    are damaged on their way out of the store (the GCM tag check then stops the stream)."""
    result = _backup(dr_env)
    rt = dr_env.runtime()
    local = next(s for s in rt.stores if s.name == "local")
    original = local.iter_object

    def damaging(key: str, block: int = 1 << 20):  # type: ignore[no-untyped-def]
        for i, chunk in enumerate(original(key, block)):
            if i == 0:
                chunk = chunk[:100] + bytes([chunk[100] ^ 1]) + chunk[101:]
            yield chunk

    local.iter_object = damaging  # type: ignore[method-assign]
    only_local = [local]
    target = _fresh_target(make_db)
    with pytest.raises(RestoreError, match="no good copy.*chunk 0 failed authentication"):
        restore_backup(result.manifest, target_db=target, target=TARGET, stores=only_local,
                       keyring=rt.keyring)
    assert not db_exists(target)


def _small_chunked_backup(env: DREnv) -> BackupResult:
    """A backup in 16 KiB chunks, so that its last chunk comes after almost all its rows."""
    rt = env.runtime()
    config = replace(rt.config, encryption=replace(rt.config.encryption, chunk_size=16 << 10))
    return run_backup(config, "shop", keyring=rt.keyring, stores=rt.stores, catalog=rt.catalog)


def _last_chunk_flipped(stored: bytes) -> bytes:
    """The final chunk's tag flipped: pg_restore has had every chunk before it."""
    return stored[:-1] + bytes([stored[-1] ^ 0x01])


def _chunks(manifest: BackupManifest) -> int:
    sealed = manifest.stored_bytes - HEADER_SIZE
    return -(-sealed // (manifest.encryption.chunk_size + TAG_SIZE))


def _data_key(env: DREnv, manifest: BackupManifest) -> bytes:
    return env.runtime().keyring.get(manifest.encryption.key_id).unwrap(
        manifest.encryption.wrapped_key, manifest.backup_id)


def _resealed(stored: bytes, data_key: bytes) -> bytes:
    """The injected fault: the same copy sealed again under its own data key and nonces
    (index64-final32) but with a reserved header byte set. The header is every chunk's
    associated data, so every chunk still authenticates and the size is unchanged; only
    the SHA-256 now differs from the one the manifest holds."""
    decryptor = ChunkDecryptor(data_key, "the copy")
    plains = decryptor.feed(stored) + decryptor.finish()
    header = bytearray(stored[:HEADER_SIZE])
    header[5] ^= 0x01
    aead = AESGCM(data_key)
    last = len(plains) - 1
    sealed = [aead.encrypt(struct.pack(">QI", i, 1 if i == last else 0), plain, bytes(header))
              for i, plain in enumerate(plains)]
    return bytes(header) + b"".join(sealed)


def _restored_from_s3(env: DREnv, make_db: Callable[[str], str], m: BackupManifest) -> str:
    """Restores with the local copy bad: S3's is used, the database equals the source, and
    the local copy was read to its end. Why the local copy was skipped."""
    rt = env.runtime()
    target = _fresh_target(make_db)
    restored = restore_backup(m, target_db=target, target=TARGET, stores=rt.stores,
                              keyring=rt.keyring)
    assert restored.source_destination == "s3"
    assert restored.bytes_read == 2 * m.stored_bytes
    source = env.apps["shop"]
    assert schema_of(target) == schema_of(source)
    assert table_checksums(target) == table_checksums(source)
    return restored.skipped_copies["local"]


def test_flip_in_the_last_chunk_drops_the_target_and_the_other_copy_is_used(
    dr_env: DREnv, make_db: Callable[[str], str]
) -> None:
    m = _small_chunked_backup(dr_env).manifest
    local = dr_env.local_dir / object_key(m.backup_id)
    local.write_bytes(_last_chunk_flipped(local.read_bytes()))
    last = _chunks(m) - 1
    assert last > 10
    skipped = _restored_from_s3(dr_env, make_db, m)
    assert f"backup {m.backup_id} failed its checksum on local: " in skipped
    assert f"chunk {last} failed authentication" in skipped


def test_authentic_copy_with_another_checksum_is_caught_at_the_end(
    dr_env: DREnv, make_db: Callable[[str], str]
) -> None:
    m = _backup(dr_env).manifest
    local = dr_env.local_dir / object_key(m.backup_id)
    local.write_bytes(_resealed(local.read_bytes(), _data_key(dr_env, m)))
    assert local.stat().st_size == m.stored_bytes
    skipped = _restored_from_s3(dr_env, make_db, m)
    assert skipped.startswith(f"backup {m.backup_id} failed its checksum on local (expected "
                              f"{m.sha256[:12]}..")
    assert f"{m.stored_bytes} of {m.stored_bytes} bytes" in skipped


def test_both_copies_failing_late_name_both_and_leave_no_target(
    dr_env: DREnv, make_db: Callable[[str], str]
) -> None:
    m = _small_chunked_backup(dr_env).manifest
    local = dr_env.local_dir / object_key(m.backup_id)
    good = local.read_bytes()
    local.write_bytes(_last_chunk_flipped(good))
    s3 = dr_env.s3.client()
    s3.put_object(Bucket=BUCKET, Key=_s3_key(dr_env, object_key(m.backup_id)),  # type: ignore[attr-defined]
                  Body=_resealed(good, _data_key(dr_env, m)))
    target = _fresh_target(make_db)
    with pytest.raises(RestoreError) as failed:
        restore_backup(m, target_db=target, target=TARGET, stores=dr_env.runtime().stores,
                       keyring=dr_env.runtime().keyring)
    message = str(failed.value)
    assert message.startswith(f"no good copy of backup {m.backup_id} to restore from: ")
    assert f"local: backup {m.backup_id} failed its checksum on local: " in message
    assert f"chunk {_chunks(m) - 1} failed authentication" in message
    assert f"s3: backup {m.backup_id} failed its checksum on s3 (expected" in message
    assert message.endswith(": restore an older backup")
    assert not db_exists(target)
