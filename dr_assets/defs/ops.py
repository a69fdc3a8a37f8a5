"""Operational jobs that are actions, not assets: restore, retention, catalog sync."""

import contextlib
from typing import Literal

import dagster as dg

from dr_assets.core.access.tickets import RESTORE, RETENTION
from dr_assets.core.copies.locate import find_manifest
from dr_assets.core.copies.sync import sync_catalog
from dr_assets.core.errors import DRError
from dr_assets.core.pg.conninfo import redact
from dr_assets.core.restore.plan import RestoreOptions
from dr_assets.core.restore.restore import (
    MODE_NEW,
    MODE_REPLACE,
    restore_backup,
    restore_in_place,
    target_server,
)
from dr_assets.core.restore.selection import NOT_IN_PLACE, Selection
from dr_assets.core.restore.targets import restore_target_refusal, target_server_refusal
from dr_assets.core.retention.apply import apply_retention
from dr_assets.core.retention.purge import purge_deleted_rows
from dr_assets.core.runs import (
    CATALOG_SYNC_JOB,
    CATALOG_SYNC_OP,
    KIND_CATALOG_SYNC,
    KIND_RESTORE,
    KIND_RETENTION,
    RESTORE_JOB,
    RESTORE_OP,
    RETENTION_JOB,
    RETENTION_OP,
    TAG_KIND,
    kind_tags,
)
from dr_assets.core.runtime import DRRuntime
from dr_assets.core.statuses import AuditResult
from dr_assets.core.wal.app_restore import restore_app_to
from dr_assets.core.wal.restore_requests import requested_target
from dr_assets.core.wal.retention import apply_server_retention
from dr_assets.core.wal.targets import RecoveryTarget
from dr_assets.defs.resources import DRResource
from dr_assets.defs.tickets import checked_ticket


class RestoreConfig(dg.Config):
    backup_id: str = ""  # a backup's restore; empty with a target below
    target_database: str
    mode: Literal["NEW_DATABASE", "REPLACE"] = "NEW_DATABASE"
    target_url: str = ""  # empty: the app's own server
    force_disconnect: bool = False  # REPLACE only: end other sessions on the target
    requested_by: str = "dagster"
    accept_loss: bool = False  # else a restore whose plan loses something refuses
    tables: list[str] = []  # granular, NEW_DATABASE only: SCHEMA.TABLE names
    schemas: list[str] = []
    # A point-in-time restore of `app` into a new database: exactly one target, no backup_id.
    app: str = ""
    to_time: str = ""  # ISO 8601 with Z or an offset
    to_lsn: str = ""
    to_latest: bool = False


@dg.op(name=RESTORE_OP, tags={TAG_KIND: KIND_RESTORE})
def restore_backup_op(context: dg.OpExecutionContext, config: RestoreConfig,
                      dr: DRResource) -> dg.Output[dict[str, object]]:
    rt = dr.runtime()
    asked = config.model_dump()
    ticket = checked_ticket(context, rt, RESTORE, asked,
                            {**asked, "target_url": redact(config.target_url)})
    # Who asked is the ticket's, not the run config's free text.
    config = config.model_copy(update={"requested_by": ticket.who})
    try:
        moment = requested_target(config.to_time, config.to_lsn, config.to_latest)
    except DRError as exc:
        raise dg.Failure(str(exc)) from None
    if moment is not None:
        return _restore_to_moment(context, config, rt, moment)
    if not config.backup_id:
        raise dg.Failure("give backup_id (a backup's restore) or one of to_time, to_lsn, "
                         "to_latest with app (a point-in-time restore)")
    selection = Selection.of(config.tables, config.schemas)
    if selection is not None and config.mode == MODE_REPLACE:
        raise dg.Failure(NOT_IN_PLACE)
    manifest = find_manifest(config.backup_id, rt.stores, rt.catalog)
    _refuse_target(rt, config, manifest.app, config.mode)
    target = target_server(rt.config, manifest, config.target_url or None)
    options = RestoreOptions(accept_loss=config.accept_loss)
    if config.mode == MODE_REPLACE:
        replaced = restore_in_place(
            manifest, target_db=config.target_database, target=target, stores=rt.stores,
            keyring=rt.keyring, catalog=rt.catalog, force_disconnect=config.force_disconnect,
            requested_by=config.requested_by, run_id=context.run.run_id, options=options)
        context.log.info(f"replaced {config.target_database} with {manifest.backup_id}; the "
                         f"previous database is kept as {replaced.swap.previous}")
        return dg.Output(replaced.to_dict(), metadata={
            "backup_id": manifest.backup_id, "target_database": config.target_database,
            "previous_database": replaced.swap.previous, "seconds": replaced.restore.seconds})
    result = restore_backup(manifest, target_db=config.target_database, target=target,
                            stores=rt.stores, keyring=rt.keyring, catalog=rt.catalog,
                            requested_by=config.requested_by, run_id=context.run.run_id,
                            mode=MODE_NEW, options=options, selection=selection)
    context.log.info(f"restored {result.backup_id} into {result.target_database} "
                     f"in {result.seconds:.1f} s from {result.source_destination}")
    return dg.Output(result.to_dict(), metadata={
        "backup_id": result.backup_id, "target_database": result.target_database,
        "seconds": result.seconds, "source": result.source_destination, "rows": result.rows})


def _refuse_target(rt: DRRuntime, config: RestoreConfig, app: str, mode: str) -> None:
    """Whatever the run config says, a target no restore may write, a server or a database
    (restore.targets), fails
    the run before anything is written, as the API refuses it before launching; the
    refusal is audited (a catalog outage does not hide it: the run fails all the same)."""
    refusal = (target_server_refusal(rt.config, app, config.target_url or None)
               or restore_target_refusal(rt.config, app, config.target_database, mode))
    if refusal is None:
        return
    with contextlib.suppress(DRError):
        rt.catalog.audit(f"dagster:{config.requested_by}", "dagster", "restore",
                         {"app": app, "backup_id": config.backup_id,
                          "target_database": config.target_database, "mode": mode,
                          "target_url": redact(config.target_url)},
                         AuditResult.REFUSED, refusal)
    raise dg.Failure(refusal)


def _restore_to_moment(context: dg.OpExecutionContext, config: RestoreConfig, rt: DRRuntime,
                       target: RecoveryTarget) -> dg.Output[dict[str, object]]:
    if config.backup_id or config.mode != MODE_NEW or config.tables or config.schemas:
        raise dg.Failure("a point-in-time restore makes a new database of the whole app: "
                         "no backup_id, tables, schemas or REPLACE with to_time, to_lsn or "
                         "to_latest")
    if not config.app:
        raise dg.Failure("a point-in-time restore needs app: the app whose database to restore")
    _refuse_target(rt, config, config.app, MODE_NEW)
    result = restore_app_to(rt.config, config.app, target, config.target_database,
                            config.target_url or None, keyring=rt.keyring, stores=rt.stores,
                            catalog=rt.catalog, options=RestoreOptions(accept_loss=config.accept_loss),
                            parent=rt.config.drills.instances_dir,
                            requested_by=config.requested_by, run_id=context.run.run_id)
    context.log.info(f"restored {result.app} as of {target.describe()} into "
                     f"{result.target_database} in {result.seconds:.1f} s from base backup "
                     f"{result.recovered.base_backup_id}")
    return dg.Output(result.to_dict(), metadata={
        "app": result.app, "target": target.describe(),
        "base_backup_id": result.recovered.base_backup_id,
        "target_database": result.target_database, "seconds": result.seconds,
        "source": result.recovered.base_store, "rows": result.rows})


class RetentionConfig(dg.Config):
    app: str = ""  # empty (and no server): every app and every server
    server: str = ""  # a protected server: its base backups and WAL only
    dry_run: bool = False


@dg.op(name=RETENTION_OP)
def retention_op(context: dg.OpExecutionContext, config: RetentionConfig,
                 dr: DRResource) -> dg.Output[list[dict[str, object]]]:
    rt = dr.runtime()
    ticket = checked_ticket(context, rt, RETENTION, config.model_dump())
    apps = ([] if config.server else [rt.config.app(config.app)] if config.app
            else list(rt.config.apps.values()))
    servers = ([rt.config.server(config.server)] if config.server else [] if config.app
               else list(rt.config.servers.values()))
    outcomes = [apply_retention(p, stores=rt.stores, catalog=rt.catalog, dry_run=config.dry_run)
                .to_dict() for p in apps]
    verb = "would delete" if config.dry_run else "deleted"
    for o in outcomes:
        gone = o.get("would_delete" if config.dry_run else "deleted", [])
        context.log.info(f"{o['app']}: {verb} {len(gone)} backup(s)")
    server_outcomes = []
    for s in servers:
        server = apply_server_retention(s, stores=rt.stores, catalog=rt.catalog,
                                        dry_run=config.dry_run)
        context.log.info(f"server {s.name}: {verb} {len(server.backups_gone)} base backup(s) "
                         f"and {len(server.wal_gone)} WAL file(s)")
        server_outcomes.append(server.to_dict())
    purge = purge_deleted_rows(rt.catalog, rt.config.keep_deleted_days,
                               apps=[p.name for p in apps], servers=[s.name for s in servers],
                               dry_run=config.dry_run, actor=f"dagster:{ticket.who}",
                               role=ticket.role)
    context.log.info(purge.summary())
    return dg.Output([*({**o, **purge.of_app(o["app"])} for o in outcomes),
                      *({**o, **purge.of_server(o["server"])} for o in server_outcomes)])


class CatalogSyncConfig(dg.Config):
    # A full pass: every manifest read and every copy re-read to check its SHA-256. Off
    # for the hourly schedule, which reads only new or changed manifests.
    verify: bool = False


@dg.op(name=CATALOG_SYNC_OP)
def catalog_sync_op(context: dg.OpExecutionContext, config: CatalogSyncConfig,
                    dr: DRResource) -> dg.Output[dict[str, object]]:
    rt = dr.runtime()
    report = sync_catalog(rt.stores, rt.catalog, instances_dir=rt.config.drills.instances_dir,
                          verify=config.verify, config=rt.config)
    context.log.info(f"{report.summary()}, {len(report.instances_removed)} throwaway servers "
                     "of killed drills removed")
    for corrupted in report.corrupted:
        context.log.warning(f"corrupted copy: {corrupted}")
    if report.unreachable_stores:
        raise dg.Failure("; ".join(report.unreachable_stores))
    return dg.Output(report.to_dict())


@dg.job(name=RESTORE_JOB, tags=kind_tags(KIND_RESTORE), executor_def=dg.in_process_executor,
        description="Restore a backup into a new database (or in place), or an app's "
                    "database as of a moment through its server's WAL.")
def restore_job() -> None:
    restore_backup_op()


@dg.job(name=RETENTION_JOB, tags=kind_tags(KIND_RETENTION), executor_def=dg.in_process_executor,
        description="Delete expired backups (never the newest verified).")
def retention_job() -> None:
    retention_op()


@dg.job(name=CATALOG_SYNC_JOB, tags=kind_tags(KIND_CATALOG_SYNC), executor_def=dg.in_process_executor,
        description="Repair missing copies and rebuild the catalog from the stores.")
def catalog_sync_job() -> None:
    catalog_sync_op()
