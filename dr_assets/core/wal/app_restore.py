"""An app's database as of a moment: its server recovered to the target in a throwaway
instance, then the database moved from there into a new database on the app's own server
(or another) with the restore machinery every backup goes through: the server objects
(roles, memberships, the database's own properties) read from the recovered server and
planned against the target, pg_dump streamed straight into pg_restore, the hand-over of
settings and grants, then row counts and the schema fingerprint compared with the
recovered database's. Any failure drops what it created; the instance is removed.

The catalog records it in dr.restores under the base backup it started from, mode
POINT_IN_TIME.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dr_assets.core.catalog import Catalog
from dr_assets.core.errors import DRError, RestoreError, WalError
from dr_assets.core.format.fingerprint import comparable, compare
from dr_assets.core.format.keys import Keyring
from dr_assets.core.names import check_database_name
from dr_assets.core.pg.binaries import find_tool
from dr_assets.core.pg.command import ToolFailed, spawned
from dr_assets.core.pg.conninfo import ConnInfo
from dr_assets.core.pg.databases import count_rows, database_exists, drop_database
from dr_assets.core.pg.server_objects import read_server_objects
from dr_assets.core.pg.sessions import connection, server_major
from dr_assets.core.policy import DRConfig
from dr_assets.core.restore.loading import stream_into_pg_restore
from dr_assets.core.restore.plan import RestoreOptions
from dr_assets.core.restore.prepare import setup_for
from dr_assets.core.restore.restore import row_count_mismatches
from dr_assets.core.stores.base import Store
from dr_assets.core.validation.schema import MATCHED, take_fingerprint
from dr_assets.core.wal.planning import plan_recovery, read_window
from dr_assets.core.wal.recovery import RecoveredServer, recovered_server
from dr_assets.core.wal.targets import RecoveryTarget

MODE_POINT_IN_TIME = "POINT_IN_TIME"
READ_BLOCK = 1 << 20


@dataclass(frozen=True)
class PointInTimeRestore:
    app: str
    target_database: str
    target_server: str
    recovered: RecoveredServer
    seconds: float
    move_seconds: float
    tables: int
    rows: int
    schema_check: str
    accepted_losses: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"app": self.app, "mode": MODE_POINT_IN_TIME,
                "target_database": self.target_database, "target_server": self.target_server,
                "seconds": round(self.seconds, 3), "move_seconds": round(self.move_seconds, 3),
                "tables": self.tables, "rows": self.rows, "schema_check": self.schema_check,
                "accepted_losses": list(self.accepted_losses),
                "recovery": self.recovered.to_dict()}


def restore_app_to(config: DRConfig, app: str, target: RecoveryTarget, target_db: str,
                   target_url: str | None = None, *, keyring: Keyring, stores: list[Store],
                   catalog: Catalog | None = None, options: RestoreOptions | None = None,
                   parent: Path | None = None, requested_by: str | None = None,
                   run_id: str | None = None) -> PointInTimeRestore:
    """Restore APP's database as of `target` into the new database `target_db`."""
    if catalog is None:
        return _restore_app_to(config, app, target, target_db, target_url, keyring=keyring,
                               stores=stores, catalog=None, options=options, parent=parent,
                               requested_by=requested_by, run_id=run_id, alive_key=None)
    with catalog.alive() as alive_key:  # the row is running exactly while this process is
        return _restore_app_to(config, app, target, target_db, target_url, keyring=keyring,
                               stores=stores, catalog=catalog, options=options, parent=parent,
                               requested_by=requested_by, run_id=run_id, alive_key=alive_key)


def _restore_app_to(config: DRConfig, app: str, target: RecoveryTarget, target_db: str,
                    target_url: str | None, *, keyring: Keyring, stores: list[Store],
                    catalog: Catalog | None, options: RestoreOptions | None,
                    parent: Path | None, requested_by: str | None, run_id: str | None,
                    alive_key: int | None) -> PointInTimeRestore:
    check_database_name(target_db)
    policy = config.app(app)
    if policy.server is None:
        raise WalError(f"app {app} is not under continuous protection (no server = in its "
                       "[apps] section): restore one of its backups instead")
    dest = (ConnInfo.parse(target_url) if target_url
            else ConnInfo.parse(policy.database_url).with_db("postgres"))
    if database_exists(dest, target_db):
        raise RestoreError(f"database {target_db} already exists on {dest.host}:{dest.port}: "
                           "choose a new name")
    plan = plan_recovery(read_window(policy.server, stores, keyring), target)
    t0 = time.monotonic()
    restore_id = (catalog.begin_restore(plan.base.backup_id, app, target_db, MODE_POINT_IN_TIME,
                                        requested_by, run_id, alive_key) if catalog else None)
    try:
        with recovered_server(config, policy.server, target, keyring=keyring, stores=stores,
                              parent=parent, plan=plan) as recovered:
            assert recovered.instance is not None
            source = recovered.instance.conninfo.with_db(policy.database_name)
            result = move_database(source, dest, target_db, options or RestoreOptions(),
                                   backup_id=plan.base.backup_id)
    except BaseException as exc:
        if catalog is not None and restore_id is not None:
            catalog.finish_restore(restore_id, False, time.monotonic() - t0, None, False,
                                   str(exc) if isinstance(exc, DRError) else repr(exc))
        raise
    seconds = time.monotonic() - t0
    if catalog is not None and restore_id is not None:
        catalog.finish_restore(restore_id, True, seconds, recovered.base_store, True, None)
    return PointInTimeRestore(app=app, target_database=target_db,
                              target_server=f"{dest.host}:{dest.port}", recovered=recovered,
                              seconds=seconds, **result)


def move_database(source: ConnInfo, dest: ConnInfo, target_db: str, options: RestoreOptions,
                  *, backup_id: str) -> dict[str, Any]:
    """Copy the source database into the new `target_db` on `dest`, planned and checked as
    a backup's restore is; drops `target_db` if anything fails."""
    t0 = time.monotonic()
    with connection(source) as conn:
        objects = read_server_objects(conn)
        expected_schema = take_fingerprint(conn)
        expected_counts = count_rows(conn)
    setup = setup_for(objects, backup_id=backup_id, source_version=objects.server_version,
                      target=dest, target_db=target_db, options=options)
    pg_dump = find_tool("pg_dump", objects.server_major)
    pg_restore = find_tool("pg_restore", server_major(dest))
    with setup.roles_in_place(dest):
        setup.create_database(dest, target_db)
        try:
            with spawned([pg_dump, *source.tool_args(), "-Fc", "-Z0", "--no-password", "-d",
                          source.dbname], env=source.tool_env(), stdout=True) as dump:
                stream_into_pg_restore(
                    [pg_restore, *dest.tool_args(), "--no-password", "--exit-on-error",
                     *setup.restore_args, "-d", target_db], dest.tool_env(),
                    iter(lambda: dump.stdout.read1(READ_BLOCK), b""))
            setup.finish(dest, target_db)
            restored = dest.with_db(target_db)
            with connection(restored) as conn:
                counts = count_rows(conn)
                actual_schema = take_fingerprint(conn)
            mismatches = row_count_mismatches(expected_counts, counts)
            if mismatches:
                raise RestoreError(f"{target_db} does not match the recovered database: "
                                   + "; ".join(mismatches[:5]))
            why_not = comparable(expected_schema, actual_schema)
            if why_not is None:
                diff = compare(expected_schema, actual_schema)
                if not diff.same:
                    raise RestoreError(f"{target_db}'s schema differs from the recovered "
                                       f"database's: {diff.describe()}")
            schema = MATCHED if why_not is None else f"schema fingerprint not compared: {why_not}"
        except ToolFailed as failed:
            drop_database(dest, target_db)
            raise RestoreError(f"moving the recovered database into {target_db} failed: "
                               f"{failed}") from failed
        except BaseException:
            drop_database(dest, target_db)
            raise
    return {"move_seconds": time.monotonic() - t0, "tables": len(counts),
            "rows": sum(counts.values()), "schema_check": schema,
            "accepted_losses": setup.accepted_losses}
