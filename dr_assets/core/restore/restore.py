"""Restore a backup into a new database: plan it against the target server (prepare), read
a copy once, proving it (every chunk's tag, then its size and SHA-256) while decrypting,
decompressing and loading it with pg_restore, then validate row counts and the schema
fingerprint against the manifest. Any failure drops what it created.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dr_assets.core.catalog import Catalog
from dr_assets.core.copies.locate import candidate_stores, stat_copy
from dr_assets.core.errors import DRError, IntegrityError, RestoreError, StoreError
from dr_assets.core.format.keys import Keyring
from dr_assets.core.format.manifest import BackupManifest
from dr_assets.core.names import check_database_name
from dr_assets.core.pg.binaries import find_tool
from dr_assets.core.pg.conninfo import ConnInfo
from dr_assets.core.pg.databases import count_rows, database_exists, drop_database
from dr_assets.core.pg.sessions import connection, server_major
from dr_assets.core.policy import DRConfig
from dr_assets.core.restore.granular import SelectedCopy, what_to_load
from dr_assets.core.restore.in_place import (
    SwapResult,
    drop_quietly,
    pre_restore_name,
    scratch_for,
    swap_databases,
)
from dr_assets.core.restore.loading import STREAMED, CopyRead, check_spool_dir, load
from dr_assets.core.restore.plan import RestoreOptions
from dr_assets.core.restore.prepare import ServerSetup, prepare_restore
from dr_assets.core.restore.selection import Selection
from dr_assets.core.stores.base import Store
from dr_assets.core.validation.schema import check_schema

MODE_NEW = "NEW_DATABASE"
MODE_REPLACE = "REPLACE"
MAX_JOBS = 32


@dataclass(frozen=True)
class RestoreResult:
    backup_id: str
    app: str
    target_database: str
    target_server: str
    source_destination: str
    seconds: float
    tables: int
    rows: int
    skipped_copies: dict[str, str] = field(default_factory=dict)
    loaded_with: str = STREAMED
    bytes_read: int = 0  # from the stores, copies skipped on the way included
    schema_check: str = ""
    setup_seconds: float = 0.0      # planning, roles and the database's own properties
    accepted_losses: list[str] = field(default_factory=list)
    granular: dict[str, Any] | None = None  # a selection's plan: what it restored, left out

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def row_count_mismatches(expected: dict[str, int], actual: dict[str, int]) -> list[str]:
    out = []
    for table, want in sorted(expected.items()):
        got = actual.get(table)
        if got != want:
            out.append(f"{table}: expected {want} rows, found {'no table' if got is None else got}")
    return out


def target_server(config: DRConfig, manifest: BackupManifest, target_url: str | None) -> ConnInfo:
    """Where a restore goes: the given server, else the app's own server, reached through
    its maintenance database (the app's own may be the very thing that was lost)."""
    if target_url:
        return ConnInfo.parse(target_url)
    policy = config.apps.get(manifest.app)
    if policy is None:
        raise RestoreError(f"app {manifest.app} is not in the config: give a target server URL")
    return ConnInfo.parse(policy.database_url).with_db("postgres")


def replaced_database(config: DRConfig, manifest: BackupManifest, target_url: str | None) -> str:
    """The database an in-place restore replaces when none is named: the one in the given
    server URL, else the app's own database."""
    if target_url:
        return ConnInfo.parse(target_url).dbname
    policy = config.apps.get(manifest.app)
    if policy is None:
        raise RestoreError(f"app {manifest.app} is not in the config: name the database to replace")
    return policy.database_name


def restore_backup(
    manifest: BackupManifest,
    *,
    target_db: str,
    target: ConnInfo,
    stores: list[Store],
    keyring: Keyring,
    catalog: Catalog | None = None,
    requested_by: str | None = None,
    run_id: str | None = None,
    mode: str = MODE_NEW,
    jobs: int = 1,
    spool_dir: Path | None = None,
    options: RestoreOptions | None = None,
    selection: Selection | None = None,
) -> RestoreResult:
    """Restore into a database that must not exist yet; nothing is left behind on failure.
    jobs > 1 spools the decrypted dump to `spool_dir` and restores in parallel (pg_load).
    The plan (restore.plan) decides the roles and the database's properties first; a plan
    with blockers, or with losses not accepted in `options`, refuses and changes nothing.
    A selection restores only those tables and schemas (granular)."""
    check_database_name(target_db)
    if not 1 <= jobs <= MAX_JOBS:
        raise RestoreError(f"jobs must be between 1 and {MAX_JOBS}")
    check_spool_dir(spool_dir)
    if database_exists(target, target_db):
        raise RestoreError(
            f"database {target_db} already exists on {target.host}:{target.port}: "
            "choose a new name (in-place replacement is a separate, explicit mode)"
        )
    data_key = keyring.data_key(manifest.encryption.key_id, manifest.encryption.wrapped_key,
                           manifest.backup_id)
    t0 = time.monotonic()
    with _recorded(catalog, manifest, target_db, mode, requested_by, run_id) as outcome:
        setup = prepare_restore(manifest, target=target, target_db=target_db, stores=stores,
                                data_key=data_key, options=options or RestoreOptions())
        with setup.roles_in_place(target):
            result = _restore(manifest, target_db, target, stores, data_key, t0, setup,
                              jobs, spool_dir, selection)
        outcome.source = result.source_destination
    return result


@dataclass
class _Outcome:
    source: str | None = None


@contextmanager
def _recorded(catalog: Catalog | None, manifest: BackupManifest, target_db: str, mode: str,
              requested_by: str | None, run_id: str | None) -> Iterator[_Outcome]:
    """Records the restore in the catalog and holds the backup's lease while it runs, so
    retention cannot delete a backup that is being read."""
    outcome = _Outcome()
    if catalog is None:
        yield outcome
        return
    with catalog.alive() as alive_key:  # the row is running exactly while this process is
        restore_id = catalog.begin_restore(manifest.backup_id, manifest.app, target_db, mode,
                                           requested_by, run_id, alive_key)
        t0 = time.monotonic()
        try:
            with catalog.backup_lease(manifest.backup_id):
                yield outcome
        except BaseException as exc:
            catalog.finish_restore(restore_id, False, time.monotonic() - t0, None, False,
                                   str(exc) if isinstance(exc, DRError) else repr(exc))
            raise
        catalog.finish_restore(restore_id, True, time.monotonic() - t0, outcome.source, True,
                               None)


def _restore(manifest: BackupManifest, target_db: str, target: ConnInfo, stores: list[Store],
             data_key: bytes, t0: float, setup: ServerSetup, jobs: int = 1,
             spool_dir: Path | None = None, selection: Selection | None = None) -> RestoreResult:
    pg_restore = find_tool("pg_restore", server_major(target))
    args = [pg_restore, *target.tool_args(), "--no-password", "--exit-on-error",
            *setup.restore_args, "-d", target_db]
    skipped: dict[str, str] = {}
    bytes_read = 0
    for store in candidate_stores(manifest, stores):
        try:
            unfit = stat_copy(store, manifest)
        except StoreError as exc:
            unfit = str(exc)
        if unfit is not None:
            skipped[store.name] = unfit
            continue
        copy = CopyRead(store, manifest, data_key)
        try:  # granular: the head read and the names found before the database exists
            selected = (None if selection is None else
                        SelectedCopy.open(copy, selection, pg_restore))
        except (IntegrityError, StoreError) as exc:
            skipped[store.name] = str(exc)
            bytes_read += copy.bytes_read
            continue
        setup.create_database(target, target_db)
        try:
            with what_to_load(copy, selected) as (dump, only):
                how = load([*args, *only], target.tool_env(), dump, jobs, spool_dir,
                           part=selected is not None)
            setup.finish(target, target_db)
            with connection(target.with_db(target_db)) as conn:
                counts = count_rows(conn)
            expected = (manifest.row_counts if selected is None else
                        selected.plan.expected_counts(manifest.row_counts))
            mismatches = row_count_mismatches(expected, counts)
            if mismatches:
                raise RestoreError(
                    f"restored {target_db} does not match backup {manifest.backup_id}: "
                    + "; ".join(mismatches[:5])
                )
            # A selection leaves out what points outside it (foreign keys, views), which a
            # comparison scoped to the restored tables would count as missing.
            schema = (check_schema(manifest, target.with_db(target_db)) if selected is None
                      else "schema fingerprint not compared: a restore of selected tables")
        except (IntegrityError, StoreError) as exc:
            drop_database(target, target_db)
            skipped[store.name] = str(exc)
            continue
        except BaseException:
            drop_database(target, target_db)
            raise
        finally:
            bytes_read += copy.bytes_read
        return RestoreResult(
            backup_id=manifest.backup_id, app=manifest.app, target_database=target_db,
            target_server=f"{target.host}:{target.port}", source_destination=store.name,
            seconds=time.monotonic() - t0, tables=len(counts), rows=sum(counts.values()),
            skipped_copies=skipped, loaded_with=how, bytes_read=bytes_read,
            schema_check=schema, setup_seconds=round(setup.seconds, 3),
            accepted_losses=setup.accepted_losses,
            granular=None if selected is None else selected.plan.to_dict(),
        )
    raise RestoreError(
        f"no good copy of backup {manifest.backup_id} to restore from: "
        + "; ".join(f"{n}: {e}" for n, e in skipped.items())
        + (": restore an older backup" if skipped else "")
    )


@dataclass(frozen=True)
class InPlaceResult:
    restore: RestoreResult
    swap: SwapResult

    def to_dict(self) -> dict[str, Any]:
        return {**self.restore.to_dict(), "target_database": self.swap.database,
                "previous_database": self.swap.previous,
                "sessions_ended": self.swap.sessions_ended}


def restore_in_place(
    manifest: BackupManifest,
    *,
    target_db: str,
    target: ConnInfo,
    stores: list[Store],
    keyring: Keyring,
    catalog: Catalog | None = None,
    force_disconnect: bool = False,
    requested_by: str | None = None,
    run_id: str | None = None,
    jobs: int = 1,
    spool_dir: Path | None = None,
    options: RestoreOptions | None = None,
) -> InPlaceResult:
    """Restore into a scratch database, validate, then swap it in; the original is kept.
    restore_backup returns only once the copy passed its checksum at the end of its read
    and the row counts matched, so a scratch database from a failing copy is dropped, never
    swapped in."""
    check_database_name(target_db)
    if not database_exists(target, target_db):
        raise RestoreError(f"database {target_db} does not exist on {target.host}:{target.port}: "
                           "restore into a new database instead")
    at = datetime.now(UTC)
    scratch = scratch_for(target_db, at)
    with _recorded(catalog, manifest, target_db, MODE_REPLACE, requested_by, run_id) as outcome:
        restored = restore_backup(manifest, target_db=scratch, target=target, stores=stores,
                                  keyring=keyring, catalog=None, jobs=jobs, spool_dir=spool_dir,
                                  options=options)
        outcome.source = restored.source_destination
        try:
            swap = swap_databases(target, target_db, scratch, pre_restore_name(target_db, at),
                                  force_disconnect)
        except BaseException as exc:
            drop_quietly(target, scratch)
            if isinstance(exc, RestoreError):
                raise
            raise RestoreError(f"swapping {scratch} in for {target_db} failed ({exc}): "
                               f"the original {target_db} is untouched") from exc
    return InPlaceResult(restore=restored, swap=swap)
