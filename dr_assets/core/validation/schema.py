"""The schema fingerprint taken of a live session (in the dump's snapshot at backup time,
on the restored database after a restore) and the restore's comparison against the
manifest's."""

from __future__ import annotations

import psycopg2.extensions

from dr_assets.core.errors import RestoreError
from dr_assets.core.format.fingerprint import FingerprintScope, SchemaFingerprint, comparable, compare
from dr_assets.core.format.manifest import BackupManifest
from dr_assets.core.pg.conninfo import ConnInfo
from dr_assets.core.pg.schema_objects import object_definitions
from dr_assets.core.pg.sessions import connection

MATCHED = "schema fingerprint matches"
NOT_RECORDED = "no schema fingerprint in the backup (made before fingerprints): not compared"


def take_fingerprint(conn: psycopg2.extensions.connection) -> SchemaFingerprint:
    return SchemaFingerprint.of(object_definitions(conn), int(conn.server_version) // 10000)


def check_schema(manifest: BackupManifest, restored: ConnInfo,
                 scope: FingerprintScope | None = None) -> str:
    """How the restored database's schema compares with the backup's, as a sentence; raises
    RestoreError naming the objects that differ. A granular restore passes the scope of
    what it restored: objects outside it are neither missing nor extra."""
    expected = manifest.schema_fingerprint
    if expected is None:
        return NOT_RECORDED
    with connection(restored) as conn:
        actual = take_fingerprint(conn)
    why_not = comparable(expected, actual)
    if why_not is not None:
        return f"schema fingerprint not compared: {why_not}"
    diff = compare(expected, actual, scope)
    if not diff.same:
        raise RestoreError(f"restored {restored.dbname} does not match backup {manifest.backup_id}: "
                           f"its schema differs: {diff.describe()}")
    return MATCHED if scope is None else f"{MATCHED} for the restored objects"
