"""The purge of deleted rows (real PostgreSQL): rows of backups, base backups and WAL files
deleted more than keep_deleted_days ago go, with the backups' copies and checks; recent
deletions, backups never deleted and other apps' rows stay; every batch is audited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dr_assets.core.catalog import Catalog
from dr_assets.core.catalog.purge import PURGE_ACTION
from dr_assets.core.retention.purge import purge_deleted_rows
from tests.support.pg import run_sql

NOW = datetime.now(UTC)


def _backup(db: str, backup_id: str, app: str, status: str, started_days_ago: int,
            deleted_days_ago: int | None = None) -> None:
    """A backup with two copies, each checked once; deleted `deleted_days_ago` if given."""
    deleted = "NULL" if deleted_days_ago is None else f"now() - interval '{deleted_days_ago} days'"
    run_sql(db, f"""
        INSERT INTO dr.backups (backup_id, app, status, started_at, finished_at, stored_bytes,
                                deleted_at, verified, checks)
        VALUES ('{backup_id}', '{app}', '{status}', now() - interval '{started_days_ago} days',
                now() - interval '{started_days_ago} days', 100, {deleted}, true, 2);
        INSERT INTO dr.backup_copies (backup_id, destination, status, stored_bytes, verified_at,
                                      verified_ok)
        SELECT '{backup_id}', d, 'ok', 100, now(), true FROM unnest(ARRAY['s3', 'local']) d;
        INSERT INTO dr.verifications (backup_id, destination, ok)
        SELECT '{backup_id}', d, true FROM unnest(ARRAY['s3', 'local']) d""")


def _fill(db: str) -> None:
    _backup(db, "shop-old-deleted-1", "shop", "deleted", 500, 450)
    _backup(db, "shop-old-deleted-2", "shop", "deleted", 480, 410)
    _backup(db, "shop-recent-deleted", "shop", "deleted", 400, 30)
    _backup(db, "shop-old-completed", "shop", "completed", 600)  # never deleted: kept
    _backup(db, "shop-failed", "shop", "failed", 700)
    _backup(db, "other-old-deleted", "other", "deleted", 500, 450)  # not this run's app
    run_sql(db, """
        INSERT INTO dr.base_backups (backup_id, server, status, started_at, deleted_at) VALUES
            ('main-old', 'main', 'deleted', now() - interval '500 days',
             now() - interval '450 days'),
            ('main-recent', 'main', 'deleted', now() - interval '100 days',
             now() - interval '20 days'),
            ('main-kept', 'main', 'completed', now() - interval '10 days', NULL);
        INSERT INTO dr.wal_files (server, name, kind, timeline, received_at, raw_bytes,
                                  raw_sha256, held_by, deleted_at)
        SELECT 'main', lpad(n::text, 24, '0'), 'segment', 1, now() - interval '500 days',
               16, 'x', ARRAY['s3'],
               CASE WHEN n <= 3 THEN now() - interval '450 days' WHEN n = 4
                    THEN now() - interval '5 days' END
        FROM generate_series(1, 5) n""")


def _ids(db: str, table: str, column: str = "backup_id") -> list[str]:
    return sorted(str(r[0]) for r in run_sql(db, f"SELECT DISTINCT {column} FROM dr.{table}"))


def test_old_deleted_rows_go_recent_and_kept_ones_stay_and_the_purge_is_audited(
    catalog_db: str,
) -> None:
    catalog = Catalog(f"postgresql://postgres@127.0.0.1:5432/{catalog_db}")
    catalog.ensure()
    _fill(catalog_db)

    preview = purge_deleted_rows(catalog, 400, apps=["shop"], servers=["main"], dry_run=True,
                                 actor="tester", role="cli", now=NOW)
    assert (dict(preview.rows.backups), dict(preview.rows.base_backups),
            dict(preview.rows.wal_files)) == ({"shop": 2}, {"main": 1}, {"main": 3})
    assert preview.of_app("shop") == {"would_purge": {"backups": 2}}
    assert len(_ids(catalog_db, "backups")) == 6 and catalog.verify_audit_chain().rows == 0

    done = purge_deleted_rows(catalog, 400, apps=["shop"], servers=["main"], dry_run=False,
                              actor="tester", role="cli", now=NOW)
    assert done.of_app("shop") == {"purged": {"backups": 2}}
    assert done.of_server("main") == {"purged": {"base_backups": 1, "wal_files": 3}}
    assert (done.rows.copies, done.rows.verifications) == (4, 4)
    assert _ids(catalog_db, "backups") == ["other-old-deleted", "shop-failed",
                                           "shop-old-completed", "shop-recent-deleted"]
    for table in ("backup_copies", "verifications"):  # went with their backups
        assert _ids(catalog_db, table) == _ids(catalog_db, "backups")
    assert _ids(catalog_db, "base_backups") == ["main-kept", "main-recent"]
    assert _ids(catalog_db, "wal_files", "name") == [f"{n:024d}" for n in (4, 5)]
    # The per-app totals followed the deletes (the trigger of migration 10).
    assert run_sql(catalog_db, "SELECT status, backups FROM dr.backup_totals WHERE app = 'shop'"
                               " ORDER BY status") == [("completed", 1), ("deleted", 1),
                                                       ("failed", 1)]

    [entry] = catalog.audit_page(action=PURGE_ACTION)
    assert (entry.actor, entry.role, entry.result) == ("tester", "cli", "ok")
    assert entry.arguments["keep_deleted_days"] == 400 and entry.arguments["servers"] == ["main"]
    assert entry.detail is not None and "2 backups (4 copies, 4 checksum verifications)" in entry.detail
    assert "1 base backups, 3 WAL files" in entry.detail
    assert catalog.verify_audit_chain().ok

    again = purge_deleted_rows(catalog, 400, apps=["shop"], servers=["main"], dry_run=False,
                               actor="tester", role="cli", now=NOW)
    assert again.rows.empty and "no rows of backups deleted before" in again.summary()
    assert len(catalog.audit_page(action=PURGE_ACTION)) == 1  # nothing purged: nothing audited


def test_batches_are_audited_one_by_one_and_zero_days_keeps_everything(catalog_db: str) -> None:
    catalog = Catalog(f"postgresql://postgres@127.0.0.1:5432/{catalog_db}")
    catalog.ensure()
    _fill(catalog_db)
    kept = purge_deleted_rows(catalog, 0, apps=["shop"], servers=["main"], dry_run=False,
                              actor="tester", role="cli", now=NOW)
    assert kept.before is None and "are kept" in kept.summary()
    assert len(_ids(catalog_db, "backups")) == 6

    before = NOW - timedelta(days=400)
    rows = catalog.purge_deleted(["shop"], [], before, "tester", "cli", {}, batch=1)
    assert dict(rows.backups) == {"shop": 2}
    entries = catalog.audit_page(action=PURGE_ACTION)
    assert len(entries) == 2 and all("the rows of 1 backups" in (e.detail or "") for e in entries)
    assert catalog.verify_audit_chain().ok
