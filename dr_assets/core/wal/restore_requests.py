"""Whether a point-in-time restore asked for from outside (the API, a Dagster run config) may
be launched, and the target it names.

A request names exactly one target (a time, an LSN, or the newest WAL). The checks run before
a run is started, so a bad request is answered at once and changes nothing: a malformed
database name or target, a name no restore may write (restore.targets), an app without a
server, a target database that exists, or a target
outside the recoverable window the stores hold now. The restore checks again when it runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from dr_assets.core.errors import DRError, WalError
from dr_assets.core.format.keys import Keyring
from dr_assets.core.names import check_database_name
from dr_assets.core.pg.conninfo import ConnInfo
from dr_assets.core.pg.databases import database_exists
from dr_assets.core.policy import DRConfig
from dr_assets.core.restore.requests import RestoreRefusal
from dr_assets.core.restore.restore import MODE_NEW
from dr_assets.core.restore.targets import restore_target_refusal
from dr_assets.core.stores.base import Store
from dr_assets.core.wal.planning import plan_recovery, read_window
from dr_assets.core.wal.targets import RecoveryTarget

ONE_TARGET = "give exactly one target: a time, an LSN, or the newest WAL (latest)"


def requested_target(to_time: str | None, to_lsn: str | None,
                     to_latest: bool) -> RecoveryTarget | None:
    """The target the three request fields name (empty ones are absent); None when none is
    given, WalError when more than one is, InvalidName or WalError when it does not parse."""
    given = [f for f in (to_time, to_lsn) if f] + (["latest"] if to_latest else [])
    if len(given) > 1:
        raise WalError(f"{len(given)} targets given: {ONE_TARGET}")
    if to_time:
        return RecoveryTarget.parse_time(to_time)
    if to_lsn:
        return RecoveryTarget.at_lsn(to_lsn)
    return RecoveryTarget.latest() if to_latest else None


@dataclass(frozen=True)
class PointInTimeRequest:
    app: str
    server: str
    target: RecoveryTarget
    base_backup_id: str  # the base backup recovery would start from now


def check_point_in_time_request(config: DRConfig, stores: list[Store], keyring: Keyring,
                                app: str, target_database: str, to_time: str | None,
                                to_lsn: str | None, to_latest: bool
                                ) -> PointInTimeRequest | RestoreRefusal:
    """APP (a known app) restored as of the target into the new database TARGET_DATABASE on
    its own server. Reads the stores' listings (the window): blocking."""
    try:
        check_database_name(target_database)
        target = requested_target(to_time, to_lsn, to_latest)
    except DRError as exc:
        return RestoreRefusal("invalid_input", str(exc))
    if target is None:
        return RestoreRefusal("invalid_input", f"no target given: {ONE_TARGET}")
    refused = restore_target_refusal(config, app, target_database, MODE_NEW)
    if refused is not None:
        return RestoreRefusal("invalid_input", refused)
    policy = config.app(app)
    if policy.server is None:
        return RestoreRefusal("invalid_input", f"app {app} has no continuous protection (no "
                                               "server = in its [apps] section): restore a "
                                               "backup instead")
    if database_exists(ConnInfo.parse(policy.database_url), target_database):
        return RestoreRefusal("invalid_input", f"database {target_database} already exists: "
                                               "choose a new name (a point-in-time restore "
                                               "makes a new database)")
    try:
        plan = plan_recovery(read_window(policy.server, stores, keyring), target)
    except DRError as exc:
        return RestoreRefusal("invalid_input", str(exc))
    return PointInTimeRequest(app=app, server=policy.server, target=target,
                              base_backup_id=plan.base.backup_id)
