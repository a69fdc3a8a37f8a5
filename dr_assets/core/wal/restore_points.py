"""Restore points: a named point in a server's WAL together with the exact row count of
every table of its protected apps' databases at that point, which point-in-time drills
recover to and compare against, and the recovery target of a recorded point by its name.

Exactness: every table of those databases is locked in SHARE mode (writers finish first,
new ones wait), then a REPEATABLE READ snapshot is taken in each database and the restore
point is written, then the locks go (a few milliseconds). No transaction touching those
tables can commit between the snapshot and the restore point record, so recovery to the
point sees exactly what the snapshot saw. The counts are read afterwards, in the snapshots.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg2
import psycopg2.extensions
from psycopg2 import sql

from dr_assets.core.catalog import Catalog
from dr_assets.core.errors import ToolError, WalError
from dr_assets.core.pg.conninfo import ConnInfo
from dr_assets.core.pg.databases import count_rows, user_tables
from dr_assets.core.pg.sessions import connect
from dr_assets.core.policy import DRConfig
from dr_assets.core.wal.targets import RecoveryTarget

LOCK_TIMEOUT = "2s"
NAME_PREFIX = "dr_"
NEWEST_LISTED = 5


@dataclass(frozen=True)
class RestorePoint:
    server: str
    name: str
    lsn: str
    timeline: int
    created_at: datetime
    row_counts: dict[str, dict[str, int]]  # database -> "schema.table" -> rows


def point_name(at: datetime) -> str:
    return f"{NAME_PREFIX}{at.astimezone(UTC):%Y%m%dT%H%M%S%fZ}"


def create_restore_point(config: DRConfig, server: str) -> RestorePoint:
    """Write one restore point on `server` with the row counts of its apps' databases."""
    policy = config.server(server)
    databases = {config.apps[a].database_name: ConnInfo.parse(config.apps[a].database_url)
                 for a in config.apps_on(server)}
    lockers: list[psycopg2.extensions.connection] = []
    snapshots: dict[str, psycopg2.extensions.connection] = {}
    try:
        for db, info in databases.items():
            locker = connect(info, autocommit=False)
            lockers.append(locker)
            with locker.cursor() as cur:
                cur.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
                tables = user_tables(locker)
                if tables:
                    cur.execute(sql.SQL("LOCK TABLE {} IN SHARE MODE").format(sql.SQL(", ").join(
                        sql.Identifier(s, t) for s, t in tables)))
            snap = connect(info, autocommit=False)
            snap.set_session(isolation_level="REPEATABLE READ", readonly=True)
            with snap.cursor() as cur:
                cur.execute("SELECT 1")  # the snapshot is taken here, under the locks
            snapshots[db] = snap
        created_at = datetime.now(UTC)
        name = point_name(created_at)
        with contextlib.closing(connect(policy.conninfo)) as admin, admin.cursor() as cur:
            cur.execute("SELECT pg_create_restore_point(%s)::text, "
                        "('x' || substr(pg_walfile_name(pg_current_wal_insert_lsn()), 1, 8))"
                        "::bit(32)::int", (name,))
            row = cur.fetchone()
            assert row is not None
        for locker in lockers:
            locker.commit()
        counts = {db: count_rows(conn) for db, conn in snapshots.items()}
    except psycopg2.Error as exc:
        raise WalError(f"restore point on server {server}: {str(exc).strip()}") from None
    except ToolError as exc:
        raise WalError(f"restore point on server {server}: {exc}") from None
    finally:
        for conn in [*lockers, *snapshots.values()]:
            with contextlib.suppress(psycopg2.Error):
                conn.close()
    return RestorePoint(server, name, row[0], int(row[1]), created_at, counts)


def record_restore_point(config: DRConfig, server: str, catalog: Catalog) -> RestorePoint:
    """Create a restore point and keep it in the catalog (what the streamer calls)."""
    point = create_restore_point(config, server)
    catalog.record_restore_point(point.server, point.name, point.lsn, point.timeline,
                                 point.created_at, point.row_counts)
    return point


def restore_point_target(catalog: Catalog, server: str, name: str) -> RecoveryTarget:
    """The recovery target of the point NAME recorded for SERVER; WalError naming the newest
    few when there is none of that name."""
    row = catalog.restore_point(server, name)
    if row is None:
        newest = [r.name for r in catalog.list_restore_points(server, limit=NEWEST_LISTED)]
        known = (f"the newest are {', '.join(newest)}" if newest else
                 "none is recorded yet (the streamer records one every restore_point_minutes)")
        raise WalError(f"server {server} has no restore point {name!r}: {known}")
    return RecoveryTarget.restore_point(row.name, row.created_at, row.lsn, row.timeline)
