"""The history the trend charts draw, read from a real catalog holding a synthetic October:
drill times and backup sizes per app with their anomalies and holds, and the estate's
storage per day walked back from today's totals equal to counting every backup by hand."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta

import psycopg2
import pytest

from dr_assets.core.catalog import Catalog
from dr_assets.core.statuses import VALID_STATUSES
from tests.support.compliance_month import at, seed_october
from tests.support.pg import PG_URL


@pytest.fixture
def october(catalog_db: str) -> Catalog:
    seed_october(catalog_db)
    return Catalog(f"{PG_URL}/{catalog_db}")


def test_drill_times_are_the_finished_drills_that_timed_a_restore(october: Catalog) -> None:
    drills = october.drill_times(["shop", "ledger"], at(1), at(31, 23))
    assert [(d.app, d.started_at, d.status, d.restore_seconds) for d in drills] == [
        ("shop", at(5, 3), "passed", 120.0), ("shop", at(19, 3), "passed", 20000.0)]
    assert october.drill_times(["shop"], at(20), at(31)) == []


def test_backup_sizes_carry_anomalies_and_holds(october: Catalog, catalog_db: str) -> None:
    sizes = october.backup_sizes(["shop"], at(1), at(31, 23, 59))
    assert sizes and all(b.app == "shop" and b.stored_bytes == 1000 for b in sizes)
    assert [b.started_at for b in sizes] == sorted(b.started_at for b in sizes)
    assert at(10, 12, 5) not in {b.started_at for b in sizes}  # the failed one stored nothing
    assert at(25, 6, 5) in {b.started_at for b in sizes}  # deleted later: it was stored
    target = sizes[3].backup_id
    with psycopg2.connect(f"{PG_URL}/{catalog_db}") as conn, conn.cursor() as cur:
        cur.execute("UPDATE dr.backups SET anomalies = %s, held = true WHERE backup_id = %s",
                    (json.dumps([{"rule": "size_dropped"}]), target))
    marked = {b.backup_id: b for b in october.backup_sizes(["shop"], at(1), at(31, 23, 59))}
    assert marked[target].held and marked[target].anomalies == [{"rule": "size_dropped"}]


def test_storage_by_day_counts_what_was_stored_and_not_yet_deleted(october: Catalog,
                                                                    catalog_db: str) -> None:
    with psycopg2.connect(f"{PG_URL}/{catalog_db}") as conn, conn.cursor() as cur:
        cur.execute("SELECT status, started_at, deleted_at, stored_bytes FROM dr.backups"
                    " WHERE stored_bytes IS NOT NULL")
        rows = cur.fetchall()
    first, last = date(2026, 9, 25), date(2026, 11, 5)
    days = october.storage_by_day(["shop", "ledger"], first, last)
    assert [d.day for d in days] == [first + timedelta(days=i) for i in range((last - first).days + 1)]

    def by_hand(day: date) -> int:
        end = datetime.combine(day + timedelta(days=1), time(), UTC)
        return sum(b for status, started, deleted, b in rows if started < end and (
            status in VALID_STATUSES or (status == "deleted" and deleted is not None
                                         and deleted >= end)))

    assert [d.stored_bytes for d in days] == [by_hand(d.day) for d in days]
    assert days[-1].stored_bytes == by_hand(last) > days[0].stored_bytes
    assert october.storage_by_day(["ledger"], first, first)[0].stored_bytes == 0
