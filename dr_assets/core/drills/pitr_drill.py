"""Point-in-time drills: prove a protected server recovers from its WAL to an exact moment.

A restore point inside the recoverable window is picked at random (the streamer records
one every `restore_point_minutes`, with the exact row count of every table of the server's
apps' databases at that point); the server is recovered to it (recovery_target_name) in a
throwaway instance, and every table's row count in each app's database must equal the
recorded one. The recovery (base backup fetched and unpacked, WAL replayed) is timed
against each app's RTO. Each app gets its row in dr.drills (target point_in_time,
recovery_target the point), which health, evidence and compliance read like any drill.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg2

from dr_assets.core.catalog import Catalog
from dr_assets.core.catalog.rows import RestorePointRow
from dr_assets.core.errors import DRError, WalError
from dr_assets.core.format.keys import Keyring
from dr_assets.core.pg.databases import count_rows
from dr_assets.core.pg.instance import ThrowawayInstance
from dr_assets.core.pg.sessions import connect
from dr_assets.core.policy import DRConfig, DrillTarget
from dr_assets.core.stores.base import Store
from dr_assets.core.wal.planning import read_window
from dr_assets.core.wal.recovery import recovered_server
from dr_assets.core.wal.targets import RecoveryTarget
from dr_assets.core.wal.window import RecoveryWindow


@dataclass(frozen=True)
class PitrDrillResult:
    server: str
    point: str | None  # the restore point recovered to
    passed: bool
    recovery_seconds: float | None  # base backup fetched and unpacked + WAL replayed
    rto_seconds: dict[str, float]  # per app
    drill_ids: dict[str, int]  # per app: its row in dr.drills
    base_backup_id: str | None = None
    tables: int = 0
    rows: int = 0
    mismatches: tuple[str, ...] = ()
    error: str | None = None
    bad_copies: dict[str, dict[str, str]] = field(default_factory=dict)

    def rto_met(self, app: str) -> bool:
        return self.passed and self.recovery_seconds is not None and (
            self.recovery_seconds <= self.rto_seconds[app])

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "mismatches": list(self.mismatches),
                "rto_met": {app: self.rto_met(app) for app in self.rto_seconds}}


def points_in_window(points: Sequence[RestorePointRow], window: RecoveryWindow
                     ) -> list[RestorePointRow]:
    """The restore points recovery can reach: made between the window's ends."""
    if window.earliest is None or window.latest is None:
        return []
    return [p for p in points if window.earliest <= p.created_at <= window.latest]


def compare_counts(recorded: dict[str, dict[str, int]], found: dict[str, dict[str, int]],
                   point: str) -> list[str]:
    """Every table whose rows after recovery differ from the point's record, in words."""
    out = []
    for db in sorted(recorded):
        want, got = recorded[db], found.get(db, {})
        for table in sorted(set(want) | set(got)):
            if table not in got:
                out.append(f"{db}: table {table} is missing after recovery to {point} (the "
                           f"restore point recorded {want[table]} rows)")
            elif table not in want:
                out.append(f"{db}: table {table} exists after recovery to {point} with "
                           f"{got[table]} rows, but the restore point recorded no such table")
            elif want[table] != got[table]:
                out.append(f"{db}: table {table} has {got[table]} rows after recovery to "
                           f"{point}; the restore point recorded {want[table]}")
    return out


def run_pitr_drill(config: DRConfig, server: str, *, stores: list[Store], keyring: Keyring,
                   catalog: Catalog, apps: Sequence[str] | None = None,
                   point: str | None = None, run_id: str | None = None) -> PitrDrillResult:
    """Recover `server` to a random restore point inside its window (or the one named) in
    a throwaway instance and compare row counts; `apps` (default: every app on the server)
    each get a drill row."""
    with catalog.alive() as alive_key:  # the rows are running exactly while this process is
        return _run_pitr_drill(config, server, stores=stores, keyring=keyring, catalog=catalog,
                               apps=apps, point=point, run_id=run_id, alive_key=alive_key)


def _run_pitr_drill(config: DRConfig, server: str, *, stores: list[Store], keyring: Keyring,
                    catalog: Catalog, apps: Sequence[str] | None, point: str | None,
                    run_id: str | None, alive_key: int) -> PitrDrillResult:
    config.server(server)
    names = list(apps) if apps else config.apps_on(server)
    for app in names:
        if config.app(app).server != server:
            raise WalError(f"app {app} is not protected by server {server}: a point-in-time "
                           f'drill recovers a server its apps opt into (server = "{server}")')
    if not names:
        raise WalError(f"no app is protected by server {server}: nothing to drill")
    rto = {a: float(config.app(a).rto_hours * 3600) for a in names}
    chosen: RestorePointRow | None = None
    drill_ids: dict[str, int] = {}
    seconds: float | None = None
    base_id: str | None = None
    tables = rows = 0
    mismatches: list[str] = []
    bad: dict[str, dict[str, str]] = {}
    error: str | None = None
    try:
        chosen = _choose_point(server, stores, keyring, catalog, point)
        for app in names:
            drill_ids[app] = catalog.begin_drill(
                app, None, config.app(app).database_name, rto[app], run_id,
                DrillTarget.POINT_IN_TIME, recovery_target=chosen.name, alive_key=alive_key)
        t0 = time.monotonic()
        target = RecoveryTarget.restore_point(chosen.name, chosen.created_at)
        with recovered_server(config, server, target, keyring=keyring, stores=stores) as rec:
            seconds = time.monotonic() - t0
            base_id, bad = rec.base_backup_id, rec.bad_copies
            assert rec.instance is not None
            dbs = {config.app(a).database_name for a in names}
            recorded = {db: n for db, n in chosen.row_counts.items() if db in dbs}
            found = _counts(rec.instance, recorded)
        tables = sum(len(t) for t in found.values())
        rows = sum(sum(t.values()) for t in found.values())
        mismatches = compare_counts(recorded, found, chosen.name)
        if mismatches:
            error = "; ".join(mismatches)
    except DRError as exc:
        error = str(exc)
    finally:
        for app, drill_id in drill_ids.items():
            catalog.finish_drill(
                drill_id, passed=error is None, restore_seconds=seconds,
                rto_met=error is None and seconds is not None and seconds <= rto[app],
                rows_validated=error is None, tables=tables or None, rows=rows or None,
                scratch_dropped=True, error=error)
    return PitrDrillResult(server=server, point=chosen.name if chosen else None,
                           passed=error is None, recovery_seconds=seconds, rto_seconds=rto,
                           drill_ids=drill_ids, base_backup_id=base_id, tables=tables,
                           rows=rows, mismatches=tuple(mismatches), error=error,
                           bad_copies=bad)


def _choose_point(server: str, stores: list[Store], keyring: Keyring, catalog: Catalog,
                  name: str | None) -> RestorePointRow:
    window = read_window(server, stores, keyring)
    reachable = points_in_window(catalog.list_restore_points(server), window)
    if name is not None:
        named = [p for p in reachable if p.name == name]
        if not named:
            raise WalError(f"restore point {name} of server {server} is not inside the "
                           f"recoverable window ({_window_words(window)})")
        return named[0]
    if not reachable:
        raise WalError(f"server {server} has no restore point inside its recoverable window "
                       f"({_window_words(window)}): the streamer records one every "
                       "restore_point_minutes once a base backup is stored")
    return secrets.choice(reachable)


def _window_words(window: RecoveryWindow) -> str:
    if window.earliest is None or window.latest is None:
        return "empty: no base backup with an unbroken WAL chain is stored"
    return f"{window.earliest.isoformat()} to {window.latest.isoformat()}"


def _counts(instance: ThrowawayInstance, recorded: dict[str, dict[str, int]]
            ) -> dict[str, dict[str, int]]:
    """Every table's rows in each recorded database on the recovered server."""
    found: dict[str, dict[str, int]] = {}
    for db in recorded:
        try:
            with contextlib.closing(connect(instance.conninfo.with_db(db))) as conn:
                found[db] = count_rows(conn)
        except psycopg2.Error as exc:
            raise WalError(f"database {db} on the server recovered from WAL: "
                           f"{str(exc).strip()}") from None
    return found
