"""In-place restore: restore into a scratch database, validate it, then swap by rename in
one short step, keeping the previous database as <name>_pre_restore_<timestamp> so that
`rollback` can swap it back. A failure before the swap leaves the original untouched.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from psycopg2 import sql

from dr_assets.core.errors import DRError, RestoreError
from dr_assets.core.names import check_database_name
from dr_assets.core.pg.conninfo import ConnInfo
from dr_assets.core.pg.databases import database_exists, drop_database
from dr_assets.core.pg.sessions import connection

STAMP = "%Y%m%d%H%M%S"
# What the names of the databases made here end in, before a STAMP (restore.targets keeps
# new databases from passing for them).
SCRATCH_SUFFIX, KEPT_SUFFIX, ROLLED_BACK_SUFFIX = "_restore_", "_pre_restore_", "_rolled_back_"
DERIVED_SUFFIXES = (SCRATCH_SUFFIX, KEPT_SUFFIX, ROLLED_BACK_SUFFIX)


@dataclass(frozen=True)
class SwapResult:
    database: str
    previous: str
    sessions_ended: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def derived_name(base: str, suffix: str) -> str:
    """base + suffix within PostgreSQL's 63-byte limit, the suffix kept whole."""
    return check_database_name(base[: 63 - len(suffix)] + suffix)


def scratch_for(target: str, at: datetime) -> str:
    return derived_name(target, f"{SCRATCH_SUFFIX}{at:{STAMP}}")


def pre_restore_name(target: str, at: datetime) -> str:
    return derived_name(target, f"{KEPT_SUFFIX}{at:{STAMP}}")


def _other_sessions(cur: Any, db: str) -> int:
    cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (db,))
    row = cur.fetchone()
    return int(row[0]) if row else 0


def swap_databases(server: ConnInfo, live: str, replacement: str, keep_as: str,
                   force_disconnect: bool) -> SwapResult:
    """live -> keep_as, replacement -> live. Refuses while others are connected unless forced;
    if the second rename fails, the first is undone."""
    for name in (live, replacement, keep_as):
        check_database_name(name)
    if database_exists(server, keep_as):
        raise RestoreError(f"database {keep_as} already exists: wait a second and retry")
    with connection(server.with_db("postgres")) as conn, conn.cursor() as cur:
        ended = 0
        busy = _other_sessions(cur, live)
        if busy and not force_disconnect:
            raise RestoreError(
                f"{busy} session(s) are connected to {live}: stop the application or pass "
                "--force-disconnect; the original database is untouched")
        cur.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(
            sql.Identifier(live)))
        try:
            if busy:
                cur.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                            " WHERE datname = %s AND pid <> pg_backend_pid()", (live,))
                row = cur.fetchone()
                ended = int(row[0]) if row else 0
            cur.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                sql.Identifier(live), sql.Identifier(keep_as)))
        except Exception:
            cur.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(
                sql.Identifier(live)))
            raise
        try:
            cur.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                sql.Identifier(replacement), sql.Identifier(live)))
        except Exception:
            cur.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                sql.Identifier(keep_as), sql.Identifier(live)))
            cur.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(
                sql.Identifier(live)))
            raise
        cur.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(
            sql.Identifier(keep_as)))
    return SwapResult(database=live, previous=keep_as, sessions_ended=ended)


def previous_versions(server: ConnInfo, target: str) -> list[str]:
    """Databases kept by earlier in-place restores of target, newest first."""
    pattern = re.compile(re.escape(target[:63 - len(KEPT_SUFFIX) - 14]) +
                         re.escape(KEPT_SUFFIX) + r"[0-9]{14}")
    with connection(server.with_db("postgres")) as conn, conn.cursor() as cur:
        cur.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                    (target[:40] + "%_pre_restore_%",))
        names = [r[0] for r in cur.fetchall() if pattern.fullmatch(r[0])]
    return sorted(names, reverse=True)


def rollback(server: ConnInfo, target: str, force_disconnect: bool,
             now: datetime | None = None) -> SwapResult:
    """Swap the newest <target>_pre_restore_* back in; the replaced one is kept as well."""
    now = now or datetime.now(UTC)
    kept = previous_versions(server, target)
    if not kept:
        raise RestoreError(f"no previous version of {target} to roll back to "
                           f"(no {target}_pre_restore_* database)")
    return swap_databases(server, target, kept[0],
                          derived_name(target, f"{ROLLED_BACK_SUFFIX}{now:{STAMP}}"), force_disconnect)


def drop_quietly(server: ConnInfo, name: str) -> None:
    with contextlib.suppress(DRError):
        drop_database(server, name)
