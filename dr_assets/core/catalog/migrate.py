"""Applying the catalog's migrations, one process at a time, while others use the catalog.

The process that migrates holds a session advisory lock; the others wait for it by asking
again (pg_try_advisory_lock) rather than inside a statement: a session waiting inside a
statement holds a snapshot, and CREATE INDEX CONCURRENTLY waits for every older snapshot
to end, which would never happen while the migrating process holds the lock.
"""

from __future__ import annotations

import time
from typing import Any

from dr_assets.core.catalog.app_scan import apps_of
from dr_assets.core.catalog.schema import MIGRATIONS, Migration, OnlineMigration

LOCK_POLL_SECONDS = 0.2
# Every app having rows in dr.backups.
APPS_WITH_BACKUPS = (f"WITH RECURSIVE {apps_of('backups')}"
                     " SELECT app FROM backups_apps WHERE app IS NOT NULL")


def take_lock(cur: Any, key: int) -> None:
    """The session advisory lock `key`, asked for again until it is free."""
    while True:
        cur.execute("SELECT pg_try_advisory_lock(%s)", (key,))
        row = cur.fetchone()
        if row and row[0]:
            return
        time.sleep(LOCK_POLL_SECONDS)


def apply_migrations(cur: Any) -> None:
    """Every migration after the catalog's version, each recorded once it is complete.
    `cur`: an autocommit connection's cursor, holding the migration lock."""
    cur.execute("CREATE SCHEMA IF NOT EXISTS dr")
    cur.execute("CREATE TABLE IF NOT EXISTS dr.schema_version ("
                " version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())")
    cur.execute("SELECT coalesce(max(version), 0) FROM dr.schema_version")
    row = cur.fetchone()
    current = int(row[0]) if row else 0
    for version, migration in enumerate(MIGRATIONS, start=1):
        if version > current:
            apply_migration(cur, version, migration)


def apply_migration(cur: Any, version: int, migration: Migration) -> None:
    record = "INSERT INTO dr.schema_version (version) VALUES (%s)"
    if isinstance(migration, str):
        cur.execute("BEGIN")
        cur.execute(migration)
        cur.execute(record, (version,))
        cur.execute("COMMIT")
        return
    _apply_online(cur, migration)
    cur.execute(record, (version,))


def _apply_online(cur: Any, m: OnlineMigration) -> None:
    if m.setup:
        cur.execute("BEGIN")
        cur.execute(m.setup)
        cur.execute("COMMIT")
    for name, definition in m.indexes:
        cur.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(%s)",
                    (f"dr.{name}",))
        found = cur.fetchone()
        if found and not found[0]:  # left invalid by an attempt that was cut short
            cur.execute(f"DROP INDEX CONCURRENTLY IF EXISTS dr.{name}")
        cur.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} {definition}")
    if m.per_app:  # after the indexes, which its reads may use
        cur.execute(APPS_WITH_BACKUPS)
        for (app,) in cur.fetchall():
            cur.execute("BEGIN")
            cur.execute(m.per_app, {"app": app})
            cur.execute("COMMIT")
    for name in m.drop_indexes:
        cur.execute(f"DROP INDEX CONCURRENTLY IF EXISTS dr.{name}")
