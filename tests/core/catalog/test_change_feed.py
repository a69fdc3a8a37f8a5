"""The catalog's change feed: every committed write moves it, and it survives losing its
connection (real PostgreSQL; the connection is killed with pg_terminate_backend)."""

from __future__ import annotations

import time

from dr_assets.core.catalog import Catalog
from dr_assets.core.catalog.changes import ChangeFeed
from dr_assets.core.pg.conninfo import ConnInfo
from tests.support.pg import run_sql
from tests.support.waiting import wait_for


def test_every_catalog_table_notifies_its_writes(catalog_db: str) -> None:
    Catalog(f"postgresql://postgres@127.0.0.1:5432/{catalog_db}").ensure()
    silent = run_sql(catalog_db, """
        SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'dr' AND c.relkind = 'r' AND c.relname <> 'schema_version'
          AND NOT EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = c.oid
                          AND t.tgname = c.relname || '_notify_change')""")
    assert silent == [], f"catalog tables whose writes nobody hears of: {silent}"


def test_writes_move_the_generation_and_a_lost_connection_comes_back(catalog_db: str) -> None:
    url = f"postgresql://postgres@127.0.0.1:5432/{catalog_db}"
    catalog = Catalog(url)
    catalog.ensure()
    feed = ChangeFeed(ConnInfo.parse(url), retry_seconds=0.1).start()
    try:
        assert feed.connected
        before = feed.generation
        time.sleep(0.2)
        assert feed.generation == before, "moved with nothing written"
        catalog.open_alert("shop", "feed_test", "warning", "x")
        assert wait_for(lambda: feed.generation > before and feed.notifications >= 1)

        before_kill = feed.generation
        killed = run_sql(catalog_db, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                                     " WHERE query LIKE 'LISTEN %' AND datname = current_database()")
        assert killed == [(True,)]
        # What was written while it was away is unknown: losing and regaining the connection
        # move the generation too.
        assert wait_for(lambda: feed.connected and feed.generation >= before_kill + 2)
        after_reconnect = feed.generation
        catalog.audit("tester", "admin", "feed_test", {}, "ok")
        assert wait_for(lambda: feed.generation > after_reconnect)
    finally:
        feed.stop()
        catalog.close()
