"""The catalog's connection handling, migrations and cross-process locks."""

from __future__ import annotations

import math
import secrets
import threading
import zlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import replace
from typing import Any, TypeVar

import psycopg2
import psycopg2.extensions
import psycopg2.extras
import psycopg2.pool
from psycopg2 import sql

from dr_assets.core.catalog.migrate import apply_migrations, take_lock
from dr_assets.core.catalog.rows import Row
from dr_assets.core.errors import CatalogError, LockBusy, ToolError
from dr_assets.core.pg.conninfo import ConnInfo
from dr_assets.core.pg.sessions import connect, connection

_MASK64 = (1 << 64) - 1
R = TypeVar("R", bound=Row)


def lock_key(name: str) -> int:
    return zlib.crc32(name.encode()) - (1 << 31)


# A run's session asks the server to probe its client every 10 s after 30 s idle and give
# up after 3 misses: a machine that vanished (no FIN, as a lost node) frees its run's keys
# within about a minute instead of the kernel's two hours. A killed process's socket is
# closed by its kernel, so its keys are free at once.
_KEEPALIVES = ("SET tcp_keepalives_idle = 30; SET tcp_keepalives_interval = 10;"
               " SET tcp_keepalives_count = 3")


def new_alive_key() -> int:
    """A random advisory-lock key of one run: at or above 2**32, so it never equals a
    lock_key() (those fit in 32 bits, signed), and below 2**63."""
    return (1 << 32) + secrets.randbits(62)
def tuples(cur: psycopg2.extras.RealDictCursor, query: str,
           args: Sequence[Any] | Mapping[str, Any] = ()) -> list[tuple[Any, ...]]:
    """What a query returns as tuples, read in `cur`'s transaction through a tuple cursor:
    for wide reads of many rows (RealDictCursor builds each row key by key)."""
    with cur.connection.cursor() as plain:
        plain.execute(query, args)
        return plain.fetchall()


class CatalogConnection:
    """Short-lived connections per operation: the catalog is touched a few times per run."""

    def __init__(self, url: str, pool_size: int = 0) -> None:
        self.info = ConnInfo.parse(url)
        self._ready = False
        self._pool_size = pool_size
        self._pool: psycopg2.pool.ThreadedConnectionPool | None = None
        self._pool_lock = threading.Lock()

    def _get_pool(self) -> psycopg2.pool.ThreadedConnectionPool:
        with self._pool_lock:
            if self._pool is None:
                self._pool = psycopg2.pool.ThreadedConnectionPool(
                    1, self._pool_size, **self.info.connect_kwargs())
            return self._pool

    def close(self) -> None:
        with self._pool_lock:
            if self._pool is not None:
                self._pool.closeall()
                self._pool = None

    def ensure(self) -> None:
        """Create the database and schema on first use, and apply pending migrations."""
        if self._ready:
            return
        try:
            conn = connect(self.info)
        except ToolError as exc:
            if f'database "{self.info.dbname}" does not exist' not in str(exc):
                raise CatalogError(f"catalog unreachable: {exc}") from None
            self._create_database()
            conn = connect(self.info)
        try:
            with conn.cursor() as cur:
                take_lock(cur, lock_key("dr-catalog-migrate"))
                apply_migrations(cur)
                cur.execute("SELECT pg_advisory_unlock(%s)", (lock_key("dr-catalog-migrate"),))
        finally:
            conn.close()
        self._ready = True

    def _create_database(self) -> None:
        # Two processes creating it at once: the loser gets DuplicateDatabase, or a unique
        # violation on pg_database when both passed the existence check together.
        with (connection(self.info.with_db("postgres")) as conn, conn.cursor() as cur,
              suppress(psycopg2.errors.DuplicateDatabase, psycopg2.errors.UniqueViolation)):
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.info.dbname)))

    @contextmanager
    def cursor(self) -> Iterator[psycopg2.extras.RealDictCursor]:
        """One transaction: committed when the block ends, rolled back on error."""
        self.ensure()
        if self._pool_size:
            yield from self._pooled_cursor()
            return
        try:
            conn = connect(self.info, autocommit=False)
        except ToolError as exc:
            raise CatalogError(f"catalog unreachable: {exc}") from None
        try:
            with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
                yield cur
            conn.commit()
        except Exception:
            conn.rollback()
            raise
        finally:
            conn.close()

    def fetch(self, row: type[R], query: str, args: Sequence[Any] | Mapping[str, Any] = ()
              ) -> list[R]:
        """What a query returns, as rows of type `row`."""
        with self.cursor() as cur:
            cur.execute(query, args)
            return [row.from_record(r) for r in cur.fetchall()]

    def _pooled_cursor(self) -> Iterator[psycopg2.extras.RealDictCursor]:
        """Long-running processes (the API) reuse connections instead of opening one per query."""
        pool = self._get_pool()
        try:
            conn = pool.getconn()
        except (psycopg2.OperationalError, psycopg2.pool.PoolError) as exc:
            raise CatalogError(f"catalog unreachable: {exc}") from None
        broken = False
        try:
            with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
                yield cur
            conn.commit()
        except psycopg2.OperationalError:
            broken = True
            raise
        except Exception:
            conn.rollback()
            raise
        finally:
            pool.putconn(conn, close=broken or bool(conn.closed))

    def probe(self, timeout_seconds: float) -> None:
        """Raise CatalogError unless a read of the backups answers within `timeout_seconds`:
        on a connection of its own (never the pool's, which busy callers may hold), with
        connect, lock and statement timeouts, so a health check learns in time."""
        ms = max(1, int(timeout_seconds * 1000))
        options = dict(self.info.params).get("options", "")
        info = replace(self.info, params=(
            *self.info.params, ("connect_timeout", str(max(2, math.ceil(timeout_seconds)))),
            ("options", f"{options} -c statement_timeout={ms} -c lock_timeout={ms}".strip())))
        try:
            with connection(info) as conn, conn.cursor() as cur:
                cur.execute("SELECT 1 FROM dr.backups LIMIT 1")
        except ToolError as exc:  # named by the catalog's own URL, not the probe's
            reason = str(exc).replace(info.safe_url, self.info.safe_url)
            raise CatalogError(f"catalog unreachable: {reason}") from None
        except psycopg2.Error as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise CatalogError(f"catalog did not answer: {first}") from None

    @contextmanager
    def _held_session(self) -> Iterator[psycopg2.extensions.cursor]:
        """A session of its own, for locks held as long as a run lives (closing it, or the
        process dying, releases them)."""
        self.ensure()
        conn = connect(self.info)
        try:
            with conn.cursor() as cur:
                cur.execute(_KEEPALIVES)
                yield cur
        finally:
            conn.close()

    @staticmethod
    def _hold_alive(cur: psycopg2.extensions.cursor) -> int:
        key = new_alive_key()
        cur.execute("SELECT pg_advisory_lock(%s)", (key,))
        return key

    @contextmanager
    def app_lock(self, app: str, action: str = "backup") -> Iterator[int]:
        """One running <action> per app across processes and machines sharing the catalog.
        Yields the run's alive key, held by the same session (see alive())."""
        with self._held_session() as cur:
            cur.execute("SELECT pg_try_advisory_lock(%s)", (lock_key(f"{action}:{app}"),))
            row = cur.fetchone()
            if not row or not row[0]:
                raise LockBusy(f"a {action} of {app} is already running: wait for it to finish")
            yield self._hold_alive(cur)

    @contextmanager
    def alive(self) -> Iterator[int]:
        """A key of this run's own, held on a session of its own until the block ends. A
        `running` row recorded with it (its alive_key) is alive exactly while the key is
        held: the key is taken before the row is written and let go after its outcome is,
        so a running row whose key nobody holds belongs to a process that is gone
        (catalog/liveness.py). A key per run, not per app: a dead row is told apart even
        while a new run of its app holds the app's lock."""
        with self._held_session() as cur:
            yield self._hold_alive(cur)

    @contextmanager
    def backup_lease(self, backup_id: str) -> Iterator[None]:
        """A shared lease held while a restore or drill reads a backup."""
        self.ensure()
        conn = connect(self.info)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_lock_shared(%s)", (lock_key(f"lease:{backup_id}"),))
            yield
        finally:
            conn.close()

    @contextmanager
    def backup_exclusive(self, backup_id: str) -> Iterator[bool]:
        """Yields True when no reader holds the backup; held until the block ends."""
        self.ensure()
        conn = connect(self.info)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT pg_try_advisory_lock(%s)", (lock_key(f"lease:{backup_id}"),))
                row = cur.fetchone()
            yield bool(row and row[0])
        finally:
            conn.close()

    def backups_in_use(self, backup_ids: list[str]) -> set[str]:
        """Backups whose lease a restore or drill holds right now."""
        if not backup_ids:
            return set()
        keys = {lock_key(f"lease:{b}"): b for b in backup_ids}
        with self.cursor() as cur:
            cur.execute(
                "SELECT ((classid::bigint << 32) | objid::bigint)::bigint AS k FROM pg_locks"
                " WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database"
                " WHERE datname = current_database()) AND granted",
            )
            held = {int(r["k"]) & _MASK64 for r in cur.fetchall()}
        return {b for k, b in keys.items() if k & _MASK64 in held}
