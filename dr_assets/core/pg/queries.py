"""Read-only work on a session: settings pinned for one block, and validation queries
(one read-only query, refused before it runs if it could write or act on the server,
answered as PostgreSQL's own text output).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import psycopg2
import psycopg2.extensions

from dr_assets.core.errors import DRError

MAX_QUERY_CHARS = 10_000
MAX_ANSWER_ROWS = 100
MAX_ANSWER_CHARS = 10_000
NULL_TEXT = "NULL"

# Answers are compared as text across servers: print times, intervals and bytes the same way
# wherever the query runs.
ANSWER_SETTINGS = {"TimeZone": "UTC", "DateStyle": "ISO, MDY", "IntervalStyle": "postgres",
                   "bytea_output": "hex", "extra_float_digits": "1",
                   # and read string literals as refuse_unsafe() reads them
                   "standard_conforming_strings": "on"}

# What a query may start with: it reads. The read-only transaction refuses the writes a
# query can still hide (a data-modifying WITH, SELECT INTO, FOR UPDATE, nextval).
_QUERY_STARTS = {"select", "with", "values", "table"}

# Functions a read-only transaction lets through although they act on the server or
# outside the transaction: ending or signalling sessions, configuration, WAL, replication,
# server files, large-object files, other databases, the session's settings and role
# (set_config), locks held past the transaction (advisory locks).
_SERVER_ACTIONS = re.compile(
    r"^(pg_terminate_backend|pg_cancel_backend|pg_signal_backend|pg_reload_conf"
    r"|pg_rotate_logfile|pg_switch_wal|pg_promote|pg_create_restore_point"
    r"|pg_log_backend_memory_contexts|pg_wal_replay_(pause|resume)|pg_(start|stop)_backup"
    r"|pg_backup_(start|stop)|pg_.*replication_slot.*|pg_logical_slot_.*|pg_replication_origin_.*"
    r"|pg_logical_emit_message|pg_stat_.*reset.*|pg_file_.*|pg_import_system_collations"
    r"|lo_import|lo_export|lo_unlink|dblink.*|set_config|pg_advisory_.*lock.*)$"
)

_TOKEN = re.compile(
    r"""(?P<space>\s+)
      | (?P<line_comment>--[^\n]*)
      | (?P<block_comment>/\*)
      | (?P<string>[eE]'(?:[^'\\]|\\.|'')*'|(?:[uU]&|[nNbBxX])?'(?:[^']|'')*')
      | (?P<quoted>(?:[uU]&)?"(?:[^"]|"")*")
      | (?P<dollar>\$(?P<tag>[A-Za-z_][A-Za-z0-9_]*)?\$)
      | (?P<word>[A-Za-z_\x80-\U0010ffff][A-Za-z0-9_$\x80-\U0010ffff]*)
      | (?P<semicolon>;)
      | (?P<other>.)""",
    re.VERBOSE | re.DOTALL,
)


class UnsafeQuery(DRError):
    """A validation query that could write, act on the server, or is not one query."""


def _words(text: str) -> Iterator[tuple[str, str]]:
    """(kind, text) of every token outside comments, strings and dollar-quoted bodies;
    raises UnsafeQuery on an unterminated one (the server would read past our end)."""
    at = 0
    while at < len(text):
        m = _TOKEN.match(text, at)
        assert m is not None  # `other` matches any one character
        kind = m.lastgroup if m.lastgroup != "tag" else "dollar"
        if kind == "block_comment":
            at = _end_of_block_comment(text, m.end())
            continue
        if kind == "dollar":
            end = text.find(m.group(0), m.end())
            if end < 0:
                raise UnsafeQuery(f"it has an unterminated {m.group(0)} quote")
            at = end + len(m.group(0))
            continue
        if kind == "other" and m.group(0) in "'\"":
            raise UnsafeQuery("it has an unterminated quote")
        at = m.end()
        if kind in ("word", "quoted", "semicolon", "other", "string"):
            yield str(kind), m.group(0)


def _end_of_block_comment(text: str, at: int) -> int:
    """Block comments nest in PostgreSQL."""
    depth = 1
    while depth:
        opening, closing = text.find("/*", at), text.find("*/", at)
        if closing < 0:
            raise UnsafeQuery("it has an unterminated /* comment")
        if 0 <= opening < closing:
            depth, at = depth + 1, opening + 2
        else:
            depth, at = depth - 1, closing + 2
    return at


def _name(kind: str, token: str) -> str:
    if kind == "quoted":
        if token[0] in "uU":
            raise UnsafeQuery("it has a U& quoted identifier: write the name without escapes")
        return token[1:-1].replace('""', '"')
    return token.lower()


def refuse_unsafe(query: str) -> str:
    """The query itself if it is one statement that only reads; else UnsafeQuery saying why.
    The read-only transaction it runs in is the second line of defence, not the only one."""
    if len(query) > MAX_QUERY_CHARS:
        raise UnsafeQuery(f"it is longer than {MAX_QUERY_CHARS} characters")
    tokens = list(_words(query))
    while tokens and tokens[-1][0] == "semicolon":
        tokens.pop()
    if not tokens:
        raise UnsafeQuery("it is empty")
    if any(kind == "semicolon" for kind, _ in tokens):
        raise UnsafeQuery("it has more than one statement: write a single query")
    first = _name(*tokens[0]) if tokens[0][0] == "word" else tokens[0][1]
    if first not in _QUERY_STARTS:
        raise UnsafeQuery(f"it is not a query (it starts with {first.upper()!r}): a validation "
                          "check reads, it never writes; start it with SELECT, WITH, VALUES or "
                          "TABLE")
    for kind, token in tokens:
        if kind in ("word", "quoted") and _SERVER_ACTIONS.match(_name(kind, token)):
            raise UnsafeQuery(f"it calls {_name(kind, token)}, which acts on the server "
                              "beyond a read-only transaction")
    return query


@contextmanager
def pinned(conn: psycopg2.extensions.connection, settings: Mapping[str, str]
           ) -> Iterator[psycopg2.extensions.cursor]:
    """A cursor with `settings` in force for one block and nothing it did kept after it:
    inside the connection's open transaction a savepoint rolled back at the end, else a
    read-only transaction of its own, rolled back."""
    own = conn.autocommit
    with conn.cursor() as cur:
        cur.execute("BEGIN TRANSACTION READ ONLY" if own else "SAVEPOINT dr_pinned")
        try:
            for name, value in settings.items():
                cur.execute("SELECT set_config(%s, %s, true)", (name, value))
            yield cur
        finally:
            if conn.closed:  # the server ended the session: nothing is left to undo
                pass
            elif own:
                cur.execute("ROLLBACK")
            else:
                cur.execute("ROLLBACK TO SAVEPOINT dr_pinned")
                cur.execute("RELEASE SAVEPOINT dr_pinned")


def answer(conn: psycopg2.extensions.connection, query: str, timeout_seconds: float) -> str:
    """The query's answer as text: rows on lines, columns split by " | ", NULL as NULL,
    every value in PostgreSQL's own output form (UTC times, ISO dates). Runs only in a
    read-only transaction (the connection's own, which must be read-only, or one of its own)
    and within `timeout_seconds`; raises UnsafeQuery before it runs, DRError when it fails."""
    refuse_unsafe(query)
    settings = {**ANSWER_SETTINGS, "statement_timeout": f"{int(timeout_seconds * 1000)}ms",
                "lock_timeout": f"{int(timeout_seconds * 1000)}ms"}
    with pinned(conn, settings) as cur:
        cur.execute("SELECT current_setting('transaction_read_only')")
        read_only = cur.fetchone()
        if read_only is None or read_only[0] != "on":
            raise UnsafeQuery("it would run outside a read-only transaction")
        cur.execute("SELECT array_agg(oid) FROM pg_type")
        oids = cur.fetchone()
        as_text = psycopg2.extensions.new_type(tuple(oids[0] if oids else ()), "DR_TEXT",
                                               lambda value, _cur: value)
        psycopg2.extensions.register_type(as_text, cur)
        try:
            cur.execute(query)
        except psycopg2.Error as exc:
            first = (exc.pgerror or str(exc)).strip().splitlines()[0]
            raise DRError(first.removeprefix("ERROR:").strip()) from None
        if cur.description is None:
            raise UnsafeQuery("it returned no rows at all (not a query)")
        rows = cur.fetchmany(MAX_ANSWER_ROWS + 1)
    if len(rows) > MAX_ANSWER_ROWS:
        raise DRError(f"its answer has more than {MAX_ANSWER_ROWS} rows: make it return a "
                      "summary, such as count(*) or max(...)")
    text = "\n".join(" | ".join(NULL_TEXT if v is None else str(v) for v in row) for row in rows)
    if len(text) > MAX_ANSWER_CHARS:
        raise DRError(f"its answer is longer than {MAX_ANSWER_CHARS} characters: make it "
                      "return a summary, such as count(*) or md5(...)")
    return text
