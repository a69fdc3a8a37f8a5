"""Validation queries: refused before they run when they are not one read-only query or call
what acts on the server, refused by the read-only transaction when they still try to write,
answered as PostgreSQL's text on a real server, and leaving the database as it was."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import psycopg2
import pytest

from dr_assets.core.errors import DRError
from dr_assets.core.pg.queries import UnsafeQuery, answer, refuse_unsafe
from tests.support.pg import PG_URL, run_sql, sequence_positions, table_checksums


@pytest.mark.parametrize("query", [
    "select max(created_at) from orders",
    "SELECT 1;",
    "select ';' as semicolon, $$;$$, $tag$ ; $tag$, E'\\';' -- ; trailing comment",
    "/* a /* nested */ comment; */ select 1",
    "with recent as (select * from orders) select count(*) from recent",
    "values (1), (2)",
    "table orders",
    'select "pg_terminate_backend column" from t',
    "select 'pg_terminate_backend(1)'",
])
def test_one_read_only_query_is_accepted(query: str) -> None:
    assert refuse_unsafe(query) == query


@pytest.mark.parametrize(("query", "why"), [
    ("insert into orders default values", "it starts with 'INSERT'"),
    ("UPDATE orders SET note = 'x'", "it starts with 'UPDATE'"),
    ("create table stolen as select * from orders", "it starts with 'CREATE'"),
    ("delete from orders", "it starts with 'DELETE'"),
    ("do $$ begin delete from orders; end $$", "it starts with 'DO'"),
    ("copy orders to program 'rm -rf /'", "it starts with 'COPY'"),
    ("(select 1)", "it starts with '('"),
    ("select 1; delete from orders", "more than one statement"),
    ("select 1; commit; delete from orders", "more than one statement"),
    ("select 1 /* */; drop table orders", "more than one statement"),
    ("select pg_terminate_backend(pid) from pg_stat_activity", "calls pg_terminate_backend"),
    ('select pg_catalog."pg_terminate_backend"(42)', "calls pg_terminate_backend"),
    ("SELECT PG_CANCEL_BACKEND(42)", "calls pg_cancel_backend"),
    ("select set_config('role', 'postgres', false)", "calls set_config"),
    ("select pg_reload_conf()", "calls pg_reload_conf"),
    ("select pg_advisory_lock(1)", "calls pg_advisory_lock"),
    ("select lo_import('/etc/passwd')", "calls lo_import"),
    ('select U&"\\0070g_terminate_backend"(1)', "U& quoted identifier"),
    ("select 'unterminated", "unterminated quote"),
    ("select $x$ never closed", "unterminated $x$ quote"),
    ("select 1 /* open", "unterminated /* comment"),
    ("  ; -- nothing", "it is empty"),
])
def test_anything_else_is_refused_before_it_runs(query: str, why: str) -> None:
    with pytest.raises(UnsafeQuery, match=re.escape(why)):
        refuse_unsafe(query)


def _conn(db: str) -> psycopg2.extensions.connection:
    conn = psycopg2.connect(f"{PG_URL}/{db}")
    conn.autocommit = True
    return conn


@pytest.fixture
def shop(make_db: Callable[[str], str]) -> str:
    db = make_db("queries")
    run_sql(db, """
        CREATE TABLE orders (id serial PRIMARY KEY, created_at timestamptz, note text, total numeric);
        INSERT INTO orders (created_at, note, total)
          SELECT timestamptz '2026-01-01 12:00:00+02' + g * interval '1 hour', NULL, g / 4.0
          FROM generate_series(1, 50) g;
        CREATE SEQUENCE invoice_no;
    """)
    return db


def test_answers_are_postgresql_text_in_utc_whatever_the_session(shop: str) -> None:
    conn = _conn(shop)
    with conn.cursor() as cur:
        cur.execute("SET TimeZone = 'America/New_York'")
    try:
        assert answer(conn, "select max(created_at) from orders", 5) == "2026-01-03 12:00:00+00"
        assert answer(conn, "select count(*), sum(total), max(note) from orders", 5) == (
            "50 | 318.75000000000000000000 | NULL")
        assert answer(conn, "select id, id * 2 from orders where id <= 2 order by id", 5) == (
            "1 | 2\n2 | 4")
        assert answer(conn, "select array[1,2], '{\"a\": 1}'::jsonb, true", 5) == (
            '{1,2} | {"a": 1} | t')
        with pytest.raises(DRError, match="more than 100 rows"):
            answer(conn, "select * from generate_series(1, 101)", 5)
    finally:
        conn.close()


@pytest.mark.parametrize(("query", "refusal"), [
    ("with gone as (delete from orders returning 1) select count(*) from gone",
     "cannot execute SELECT in a read-only transaction"),
    ("select * into stolen from orders", "cannot execute SELECT INTO in a read-only transaction"),
    ("select id from orders for update", "cannot execute SELECT FOR UPDATE in a read-only"),
    ("select nextval('invoice_no')", "cannot execute nextval() in a read-only transaction"),
])
def test_a_query_that_still_writes_is_refused_by_the_read_only_transaction(
        shop: str, query: str, refusal: str) -> None:
    before = (table_checksums(shop), sequence_positions(shop))
    conn = _conn(shop)
    try:
        with pytest.raises(DRError, match=re.escape(refusal)):
            answer(conn, query, 5)
        # The session is still usable. What the read-only transaction lets through (a large
        # object is created) is rolled back with it: nothing a query did is kept.
        assert answer(conn, "select count(*) from orders", 5) == "50"
        assert answer(conn, "select lo_create(0) > 0", 5) == "t"
    finally:
        conn.close()
    assert (table_checksums(shop), sequence_positions(shop)) == before
    assert run_sql(shop, "SELECT count(*) FROM pg_class WHERE relname = 'stolen'") == [(0,)]
    assert run_sql(shop, "SELECT count(*) FROM pg_largeobject_metadata") == [(0,)]


def test_ending_other_sessions_is_refused_and_they_live_on(shop: str) -> None:
    victim = _conn(shop)
    with victim.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        [(pid,)] = cur.fetchall()
    conn = _conn(shop)
    try:
        with pytest.raises(UnsafeQuery, match="calls pg_terminate_backend"):
            answer(conn, f"select pg_terminate_backend({pid})", 5)
        with victim.cursor() as cur:
            cur.execute("SELECT 1")
            assert cur.fetchall() == [(1,)]
    finally:
        conn.close()
        victim.close()


def test_a_slow_query_is_cut_at_its_timeout(shop: str) -> None:
    conn = _conn(shop)
    try:
        t0 = time.monotonic()
        with pytest.raises(DRError, match="statement timeout"):
            answer(conn, "select pg_sleep(30)", 0.5)
        assert time.monotonic() - t0 < 10
    finally:
        conn.close()


def test_inside_a_transaction_it_runs_only_when_that_is_read_only(shop: str) -> None:
    conn = psycopg2.connect(f"{PG_URL}/{shop}")  # a read-write transaction opens on first use
    try:
        with pytest.raises(UnsafeQuery, match="outside a read-only transaction"):
            answer(conn, "select count(*) from orders", 5)
        conn.rollback()
        conn.set_session(readonly=True)
        # A failing query in the transaction leaves it usable: it ran in a savepoint.
        with pytest.raises(DRError, match='relation "missing" does not exist'):
            answer(conn, "select * from missing", 5)
        assert answer(conn, "select count(*) from orders", 5) == "50"
    finally:
        conn.close()
