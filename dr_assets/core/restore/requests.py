"""Whether a restore asked for from outside (the API, a REST POST) may be launched.

The checks run before a Dagster run is started, so a bad request is answered at once and
changes nothing: a malformed id, database, table or schema name, a backup that is unknown,
deleted, failed or without a copy that passed its checksum, a target the control plane
keeps from every restore (restore.targets: a system, catalog or Dagster database, another
app's database in place, a reserved name), a new-database target that exists, an in-place
target that does not, or an in-place restore of a selection. The
restore itself checks again when it runs (and only it can tell a name the archive lacks).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from dr_assets.core.catalog import Catalog
from dr_assets.core.errors import InvalidName
from dr_assets.core.names import check_backup_id, check_database_name
from dr_assets.core.pg.conninfo import ConnInfo
from dr_assets.core.pg.databases import database_exists
from dr_assets.core.policy import DRConfig
from dr_assets.core.restore.restore import MODE_NEW, MODE_REPLACE
from dr_assets.core.restore.selection import NOT_IN_PLACE, Selection
from dr_assets.core.restore.targets import restore_target_refusal
from dr_assets.core.statuses import VALID_STATUSES, BackupStatus, CopyStatus

RefusalKind = Literal["invalid_input", "backup_not_found", "backup_not_restorable"]


@dataclass(frozen=True)
class RestoreRefusal:
    kind: RefusalKind
    message: str


@dataclass(frozen=True)
class RestoreRequest:
    app: str
    selection: Selection | None = None  # granular: only these tables and schemas


def check_restore_request(config: DRConfig, catalog: Catalog, backup_id: str,
                          target_database: str, mode: str, tables: Sequence[str] = (),
                          schemas: Sequence[str] = ()) -> RestoreRequest | RestoreRefusal:
    try:
        check_backup_id(backup_id)
        check_database_name(target_database)
        selection = Selection.of(tables, schemas)
    except InvalidName as exc:
        return RestoreRefusal("invalid_input", str(exc))
    if mode not in (MODE_NEW, MODE_REPLACE):
        return RestoreRefusal("invalid_input", f"unknown mode {mode!r}: use {MODE_NEW} or "
                                               f"{MODE_REPLACE}")
    if selection is not None and mode == MODE_REPLACE:
        return RestoreRefusal("invalid_input", NOT_IN_PLACE)
    row = catalog.get_backup(backup_id)
    if row is None or row.status == BackupStatus.DELETED:
        return RestoreRefusal("backup_not_found", f"backup {backup_id} was not found")
    if row.status not in VALID_STATUSES or not row.manifest:
        return RestoreRefusal("backup_not_restorable",
                              f"backup {backup_id} is {row.status}: "
                              f"{row.error or 'not restorable'}")
    if not any(c.status == CopyStatus.OK and c.verified_ok is not False
               for c in row.copies.values()):
        return RestoreRefusal("backup_not_restorable",
                              f"backup {backup_id} has no copy that passed its checksum: "
                              "restore an older backup")
    refused = restore_target_refusal(config, row.app, target_database, mode)
    if refused is not None:
        return RestoreRefusal("invalid_input", refused)
    if row.app in config.apps:
        exists = database_exists(ConnInfo.parse(config.apps[row.app].database_url),
                                 target_database)
        if mode == MODE_NEW and exists:
            return RestoreRefusal("invalid_input",
                                  f"database {target_database} already exists: choose a new "
                                  "name, or mode REPLACE to restore in place")
        if mode == MODE_REPLACE and not exists:
            return RestoreRefusal("invalid_input",
                                  f"database {target_database} does not exist: REPLACE needs "
                                  "an existing database")
    return RestoreRequest(app=row.app, selection=selection)
