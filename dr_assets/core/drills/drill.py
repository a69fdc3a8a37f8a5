"""Restore drills: prove the newest verified backup restores within the RTO and passes the
app's validation checks.

The scratch database is always dropped, on success and on failure alike.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dr_assets.core.catalog import Catalog
from dr_assets.core.copies.locate import find_manifest
from dr_assets.core.errors import BackupNotFound, DRError
from dr_assets.core.format.keys import Keyring
from dr_assets.core.pg.conninfo import ConnInfo
from dr_assets.core.pg.databases import database_exists, drop_database
from dr_assets.core.policy import AppPolicy
from dr_assets.core.restore.restore import restore_backup
from dr_assets.core.stores.base import Store
from dr_assets.core.validation.checks import CheckOutcome, refuse_failed, run_checks


@dataclass(frozen=True)
class DrillResult:
    app: str
    backup_id: str | None
    scratch_database: str
    passed: bool
    restore_seconds: float | None
    rto_seconds: float
    tables: int | None
    rows: int | None
    scratch_dropped: bool
    error: str | None
    drill_id: int
    checks: tuple[CheckOutcome, ...] = ()

    @property
    def rto_met(self) -> bool:
        return self.passed and self.restore_seconds is not None and (
            self.restore_seconds <= self.rto_seconds)

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "rto_met": self.rto_met,
                "checks": [c.to_dict() for c in self.checks]}


def scratch_name(app: str, at: datetime) -> str:
    return f"drill_{app}_{at:%Y%m%d%H%M%S}_{secrets.token_hex(2)}"[:63]


def run_drill(policy: AppPolicy, *, stores: list[Store], keyring: Keyring, catalog: Catalog,
              run_id: str | None = None, now: datetime | None = None) -> DrillResult:
    """Restore the newest verified backup into a scratch database on the app's server and
    run the app's validation checks on it; a failed check fails the drill."""
    server = ConnInfo.parse(policy.database_url)
    scratch = scratch_name(policy.name, now or datetime.now(UTC))
    rto_seconds = float(policy.rto_hours * 3600)
    newest = catalog.newest_verified(policy.name)
    drill_id = catalog.begin_drill(policy.name, newest.backup_id if newest else None, scratch,
                                   rto_seconds, run_id)
    seconds = tables = rows = None
    error: str | None = None
    checks: list[CheckOutcome] = []
    t0 = time.monotonic()
    try:
        if newest is None:
            raise BackupNotFound(f"{policy.name} has no verified backup to drill: "
                                 "take a backup and let checksum_verified pass first")
        manifest = find_manifest(newest.backup_id, stores, catalog)
        result = restore_backup(manifest, target_db=scratch, target=server, stores=stores,
                                keyring=keyring, catalog=catalog, requested_by="drill",
                                run_id=run_id, mode="DRILL")
        seconds, tables, rows = result.seconds, result.tables, result.rows
        checks = run_checks(policy.validation, manifest, server.with_db(scratch))
        refuse_failed(checks)
    except DRError as exc:
        error = str(exc)
        seconds = time.monotonic() - t0
    except BaseException as exc:
        error = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        dropped = _drop_scratch(server, scratch)
        if error is None and not dropped:
            error = f"scratch database {scratch} could not be dropped"
        catalog.finish_drill(
            drill_id, passed=error is None, restore_seconds=seconds,
            rto_met=error is None and seconds is not None and seconds <= rto_seconds,
            rows_validated=error is None, tables=tables, rows=rows,
            scratch_dropped=dropped, error=error,
        )
    return DrillResult(policy.name, newest.backup_id if newest else None, scratch,
                       error is None, seconds, rto_seconds, tables, rows, dropped, error, drill_id,
                       tuple(checks))


def _drop_scratch(server: ConnInfo, scratch: str) -> bool:
    try:
        drop_database(server, scratch)
        return not database_exists(server, scratch)
    except DRError:
        return False
