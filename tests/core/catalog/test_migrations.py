"""The catalog's migrations over rows (real PostgreSQL): the online migration counts the
per-app totals and builds its indexes concurrently on a catalog already holding history,
the dashboards' reads then use them, the totals follow every write, a half-built index is
built again, and a process waiting for another's migration holds no snapshot meanwhile."""

from __future__ import annotations

import importlib
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import psycopg2
import pytest

from dr_assets.core.catalog import Catalog
from dr_assets.core.catalog.connection import lock_key
from dr_assets.core.catalog.facts import APP_FACTS
from dr_assets.core.catalog.schema import MIGRATIONS, OnlineMigration
from tests.support.per_app import NEWEST_MISMATCH, TOTALS_MISMATCH
from tests.support.pg import PG_URL, run_sql

BENCH = Path(__file__).resolve().parents[3] / "bench"
ONLINE = next(i for i, m in enumerate(MIGRATIONS, start=1) if isinstance(m, OnlineMigration)
              and any(name == "backups_window" for name, _ in m.indexes))
def _history(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(BENCH))
    return importlib.import_module("catalog_history")


def _plan_nodes(node: dict[str, Any]) -> list[tuple[str, str | None, str | None]]:
    found = [(node["Node Type"], node.get("Relation Name"), node.get("Index Name"))]
    for child in node.get("Plans", []):
        found += _plan_nodes(child)
    return found


def test_the_online_migration_over_a_catalog_with_history(
    catalog_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    history = _history(monkeypatch)
    url = f"{PG_URL}/{catalog_db}"
    built = history.build_history(url, apps=30, days=60, schema_version=ONLINE - 1)
    assert built["rows"]["backups"] > 5000 and built["backups_by_status"]["deleted"] > 0
    assert run_sql(catalog_db, "SELECT to_regclass('dr.backup_totals')") == [(None,)]

    Catalog(url).ensure()
    assert run_sql(catalog_db, "SELECT max(version) FROM dr.schema_version") == [(len(MIGRATIONS),)]
    assert run_sql(catalog_db, TOTALS_MISMATCH) == []  # counted per app from the rows
    assert run_sql(catalog_db, NEWEST_MISMATCH) == []
    indexes = dict(run_sql(catalog_db, "SELECT indexrelid::regclass::text, indisvalid"
                                       " FROM pg_index WHERE indrelid = 'dr.backups'::regclass"))
    assert indexes["dr.backups_window"] and indexes["dr.backups_status_listing"]
    assert "dr.backups_started" not in indexes  # replaced by backups_window

    run_sql(catalog_db, "VACUUM ANALYZE dr.backups")
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            apps = [s.name for s in history.plan_apps(30)]
            cur.execute("EXPLAIN (FORMAT JSON) " + APP_FACTS,
                        {"apps": apps, "now": datetime.now(UTC)})
            nodes = _plan_nodes(cur.fetchone()[0][0]["Plan"])
    finally:
        conn.close()
    # dr.backups only through an index of the last 7 days (backups_window, or migration 14's
    # backups_started_stored, which holds what this query reads as well); the rest from
    # per-app rows
    [scan] = [n for n in nodes if n[1] == "backups"]
    assert scan[0] == "Index Only Scan" and scan[2] in (
        "backups_window", "backups_started_stored"), nodes
    assert {"backup_totals", "newest_backups"} <= {table for _, table, _ in nodes}


def test_the_per_app_rows_follow_every_kind_of_write(catalog_db: str) -> None:
    catalog = Catalog(f"{PG_URL}/{catalog_db}")
    catalog.ensure()
    start = datetime.now(UTC) - timedelta(hours=3)
    for i in range(3):
        catalog.begin_backup(f"shop-2026{i}", "shop", start + timedelta(hours=i), None, None)
    catalog.fail_backup("shop-20260", "boom", start)
    run_sql(catalog_db, "UPDATE dr.backups SET status = 'completed', stored_bytes = 70"
                        " WHERE backup_id IN ('shop-20261', 'shop-20262')")
    catalog.mark_deleted("shop-20261", "retention: test")
    run_sql(catalog_db, "INSERT INTO dr.backup_copies (backup_id, destination, status)"
                        " VALUES ('shop-20262', 's3', 'ok')")
    catalog.record_verification("shop-20262", "s3", False, "x", "y", "mismatch")
    assert run_sql(catalog_db, NEWEST_MISMATCH) == []
    catalog.record_verification("shop-20262", "s3", True, "x", "x", None)  # status unchanged
    assert run_sql(catalog_db, "SELECT backup_id, verified, newest_check_failed, newest_status,"
                               " any_check_failed FROM dr.newest_backups") == [
        ("shop-20262", True, False, "completed", False)]
    run_sql(catalog_db, "INSERT INTO dr.backups (backup_id, app, status, started_at)"
                        " VALUES ('shop-20262', 'shop', 'running', now()) ON CONFLICT (backup_id)"
                        " DO UPDATE SET stored_bytes = 90")  # an upsert that updates
    assert run_sql(catalog_db, "SELECT status, backups, stored_bytes FROM dr.backup_totals"
                               " WHERE backups <> 0 ORDER BY status") == [
        ("completed", 1, 90), ("deleted", 1, 70), ("failed", 1, 0)]
    assert run_sql(catalog_db, NEWEST_MISMATCH) == []
    run_sql(catalog_db, "DELETE FROM dr.backups WHERE backup_id IN ('shop-20260', 'shop-20262')")
    assert run_sql(catalog_db, TOTALS_MISMATCH) == []
    assert run_sql(catalog_db, "SELECT backup_id, newest_status FROM dr.newest_backups") == [
        (None, None)]  # only a deleted backup is left
    run_sql(catalog_db, "TRUNCATE dr.backups CASCADE")
    assert run_sql(catalog_db, "SELECT (SELECT count(*) FROM dr.backup_totals),"
                               " (SELECT count(*) FROM dr.newest_backups)") == [(0, 0)]
    assert catalog.page_backups(None, None, None, 10, None) == ([], 0)


def test_an_index_an_interrupted_attempt_left_invalid_is_built_again(catalog_db: str) -> None:
    url = f"{PG_URL}/{catalog_db}"
    Catalog(url).ensure()
    # What a cancelled CREATE INDEX CONCURRENTLY leaves behind, made by hand: PostgreSQL
    # gives no way to stop one half way on purpose.
    run_sql(catalog_db, "UPDATE pg_index SET indisvalid = false"
                        " WHERE indexrelid = 'dr.backups_window'::regclass")
    run_sql(catalog_db, f"DELETE FROM dr.schema_version WHERE version >= {ONLINE}")
    Catalog(url).ensure()
    assert run_sql(catalog_db, "SELECT indisvalid FROM pg_index"
                               " WHERE indexrelid = 'dr.backups_window'::regclass") == [(True,)]
    assert run_sql(catalog_db, "SELECT max(version) FROM dr.schema_version") == [(len(MIGRATIONS),)]


def test_waiting_for_another_migration_holds_no_snapshot(catalog_db: str) -> None:
    """CREATE INDEX CONCURRENTLY waits for every older snapshot: a process waiting for the
    migration lock inside a statement would wait for it for ever."""
    url = f"{PG_URL}/{catalog_db}"
    Catalog(url).ensure()
    holder = psycopg2.connect(url)
    holder.autocommit = True
    done = threading.Event()
    try:
        with holder.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s)", (lock_key("dr-catalog-migrate"),))
        waiting = threading.Thread(target=lambda: (Catalog(url).ensure(), done.set()))
        waiting.start()
        samples = []
        for _ in range(10):
            time.sleep(0.05)
            # a session waiting in a statement: on a lock, or running for a while
            samples += run_sql(catalog_db, "SELECT pid FROM pg_stat_activity WHERE datname ="
                                           " current_database() AND pid <> pg_backend_pid()"
                                           " AND (wait_event_type = 'Lock' OR (state = 'active'"
                                           " AND now() - query_start > interval '50 ms'))")
        assert not done.is_set(), "did not wait for the migration lock"
        assert samples == []
    finally:
        holder.close()  # releases the lock
    waiting.join(10)
    assert done.is_set()


def test_concurrent_writers_of_one_app_leave_its_newest_row_right(catalog_db: str) -> None:
    """A writer computes the app's row again only once the other's is committed: without
    that, the one that commits last would write what its snapshot saw, missing the other."""
    url = f"{PG_URL}/{catalog_db}"
    Catalog(url).ensure()
    run_sql(catalog_db, "INSERT INTO dr.backups (backup_id, app, status, started_at, checks)"
                        " VALUES ('shop-old', 'shop', 'completed', now() - interval '1 day', 1)")
    first, second = psycopg2.connect(url), psycopg2.connect(url)
    try:
        with first.cursor() as cur:  # a new backup starts, not committed yet
            cur.execute("INSERT INTO dr.backups (backup_id, app, status, started_at)"
                        " VALUES ('shop-new', 'shop', 'running', now())")

        def verify_the_old_one() -> None:
            with second.cursor() as cur:
                cur.execute("UPDATE dr.backups SET verified = true WHERE backup_id = 'shop-old'")
            second.commit()

        waiting = threading.Thread(target=verify_the_old_one)
        waiting.start()
        time.sleep(0.3)
        assert waiting.is_alive(), "the second writer did not wait for the first"
        first.commit()
        waiting.join(10)
    finally:
        first.close()
        second.close()
    assert run_sql(catalog_db, "SELECT backup_id, newest_status, verified_at IS NOT NULL"
                               " FROM dr.newest_backups") == [("shop-old", "running", True)]
    assert run_sql(catalog_db, NEWEST_MISMATCH) == []
