"""drctl commands over backups: take, list, verify, list contents, restore, sync the catalog."""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import UTC, datetime
from typing import Any

from dr_assets.cli.output import copies_lines, emit, human, progress_printer, table
from dr_assets.cli.recovery import cmd_restore_to_moment, wants_a_moment
from dr_assets.core.anomalies.check import release_backup
from dr_assets.core.backup.take import run_backup
from dr_assets.core.copies.locate import find_manifest, newest_at_or_before, scan_stores
from dr_assets.core.copies.sync import sync_catalog
from dr_assets.core.copies.verify import verify_backup
from dr_assets.core.delivery.dispatch import dispatch_due
from dr_assets.core.errors import DRError
from dr_assets.core.format.manifest import BackupManifest, parse_time
from dr_assets.core.pg.conninfo import ConnInfo
from dr_assets.core.restore.contents import archive_contents
from dr_assets.core.restore.in_place import rollback
from dr_assets.core.restore.plan import RestoreOptions
from dr_assets.core.restore.prepare import plan_of_backup
from dr_assets.core.restore.restore import (
    MODE_NEW,
    MODE_REPLACE,
    RestoreResult,
    replaced_database,
    restore_backup,
    restore_in_place,
    target_server,
)
from dr_assets.core.restore.selection import NOT_IN_PLACE, Selection
from dr_assets.core.restore.targets import RestoreTargetRefused, check_restore_target
from dr_assets.core.runtime import DRRuntime
from dr_assets.core.statuses import AuditResult, CopyStatus

RELEASE = "release"


def cmd_backup(args: argparse.Namespace) -> int:
    rt = DRRuntime.load(args.config)
    if args.app == RELEASE and (args.backup_id or RELEASE not in rt.config.apps):
        return cmd_release(rt, args)
    if args.backup_id or args.reason:
        raise DRError("drctl backup APP takes no backup id or --reason: to release a held "
                      "backup, drctl backup release BACKUP_ID --reason TEXT")
    progress = progress_printer(args)
    result = run_backup(rt.config, args.app, keyring=rt.keyring, stores=rt.stores,
                        catalog=rt.catalog, progress=progress)
    if progress:
        sys.stderr.write("\n")
    doc = result.to_dict()
    if not args.no_verify:
        check = verify_backup(result.manifest, rt.stores, rt.catalog)
        doc["verified"] = check.ok
        doc["verify_errors"] = [c.error for c in check.failures]

    def text() -> str:
        m = result.manifest
        lines = [f"backup {m.backup_id}: {m.status}",
                 f"  {human(m.raw_bytes)} dumped, {human(m.stored_bytes)} stored in "
                 f"{result.duration_seconds:.1f} s, sha256 {m.sha256}"]
        if result.contents is not None:
            lines.append(f"  {result.contents.summary()}")
        return "\n".join([*lines, *copies_lines(m.destinations, doc)])

    emit(args, doc, text)
    return 0 if doc.get("verified", True) else 1


def cmd_release(rt: DRRuntime, args: argparse.Namespace) -> int:
    """drctl backup release BACKUP_ID --reason TEXT: as the GraphQL releaseBackupHold, audited."""
    if not args.backup_id:
        raise DRError("name the held backup: drctl backup release BACKUP_ID --reason TEXT")
    arguments = {"backup_id": args.backup_id, "reason": args.reason or ""}
    try:
        done = release_backup(rt.catalog, args.backup_id, f"drctl:{getpass.getuser()}",
                              args.reason or "")
    except DRError as exc:
        _audit(rt, "releaseBackupHold", arguments, AuditResult.REFUSED, str(exc))
        raise
    _audit(rt, "releaseBackupHold", arguments, AuditResult.OK, done.message)
    # The resolution goes out now (as it did before the outbox), not at the sensor's tick;
    # what failed stays in the outbox and is retried there.
    sent = dispatch_due(rt.config, rt.catalog, datetime.now(UTC))
    doc = {"backup_id": args.backup_id, "app": done.release.hold.app, "released": True,
           "holds_left": done.release.holds_left,
           "alert_resolved": done.release.resolved_alert is not None,
           "delivery_error": "; ".join(sent.failed) or None, "message": done.message}
    emit(args, doc, lambda: done.message)
    return 0


def cmd_backups(args: argparse.Namespace) -> int:
    rt = DRRuntime.load(args.config)
    if args.app:
        rt.config.app(args.app)
    if args.from_storage:
        scan = scan_stores(rt.stores, args.app)
        rows: list[dict[str, Any]] = [
            {"backup_id": m.backup_id, "app": m.app, "status": m.status,
             "started_at": m.started_at, "stored_bytes": m.stored_bytes, "sha256": m.sha256,
             "found_in": scan.found_in[m.backup_id], "format_version": m.format_version,
             "server_objects": m.server_objects is not None}
            for m in sorted(scan.manifests.values(), key=lambda m: m.backup_id, reverse=True)
        ]
        for p in scan.unreadable + scan.unreachable:
            print(f"drctl: warning: {p}", file=sys.stderr)
    else:
        rows = [r.to_dict() for r in rt.catalog.list_backups(app=args.app, limit=args.limit)]

    def text() -> str:
        return "\n".join(table(
            [("backup_id", "48"), ("status", "10"), ("stored", ">10"), (" where", "")],
            ([r["backup_id"], r["status"], human(r["stored_bytes"] or 0), " " + ",".join(
                r.get("found_in") or sorted(n for n, c in r.get("copies", {}).items()
                                            if c.get("status") == CopyStatus.OK))
              + (f"  HELD: {r['held_reason']}" if r.get("held") else "")]
             for r in rows)))

    emit(args, rows, text)
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    rt = DRRuntime.load(args.config)
    catalog = None if args.from_storage else rt.catalog
    manifest = find_manifest(args.backup_id, rt.stores, catalog)
    result = verify_backup(manifest, rt.stores, catalog)

    def text() -> str:
        lines = [f"backup {result.backup_id}: {'verified' if result.ok else 'FAILED'}"]
        for c in result.checks:
            lines.append(f"  {c.destination}: {'ok' if c.ok else c.error}")
        return "\n".join(lines)

    emit(args, result.to_dict(), text)
    if not result.ok:
        bad = ", ".join(c.destination for c in result.failures)
        print(f"drctl: backup {result.backup_id} failed verification on {bad}: "
              "restore from another copy or an older backup", file=sys.stderr)
        return 1
    return 0


def cmd_contents(args: argparse.Namespace) -> int:
    rt = DRRuntime.load(args.config)
    manifest = find_manifest(args.backup_id, rt.stores, None if args.from_storage else rt.catalog)
    found = archive_contents(manifest, rt.stores, rt.keyring)

    def text() -> str:
        lines = [f"backup {found.backup_id} of {found.app}, taken {found.started_at} "
                 f"(pg_dump {found.dumped_by}); read {human(found.bytes_read)} of "
                 f"{human(found.stored_bytes)} from {found.read_from}",
                 "schemas: " + ", ".join(s.selector for s in found.schemas), "tables:"]
        lines += ["  " + line for line in table(
            [("--table", "48"), ("rows", ">12")],
            ([t.selector, "partitioned" if t.rows is None else t.rows] for t in found.tables))]
        lines.append("other objects:")
        lines += [f"  {o.kind.lower()} {o.name if o.schema is None else f'{o.schema}.{o.name}'}"
                  for o in found.objects]
        return "\n".join(lines)

    emit(args, found.to_dict(), text)
    return 0


def _restore_source(args: argparse.Namespace, rt: DRRuntime) -> tuple[BackupManifest, str]:
    """The manifest to restore and a note on how it was chosen."""
    catalog = None if args.from_storage else rt.catalog
    if args.as_of:
        rt.config.app(args.backup_id)
        try:
            instant = parse_time(args.as_of)
        except ValueError:
            raise DRError(f"--as-of {args.as_of!r} is not a time: use 2026-11-20T06:00:00Z") from None
        manifest = newest_at_or_before(args.backup_id, instant, rt.stores, catalog)
        age = (instant - manifest.started).total_seconds() / 3600
        return manifest, (f"newest backup at or before {args.as_of}: {manifest.backup_id}, "
                          f"taken at {manifest.started_at}, {age:.1f} h before that instant")
    return find_manifest(args.backup_id, rt.stores, catalog), ""


def _restored(result: RestoreResult) -> str:
    what = (f"{result.tables} tables, {result.rows} rows, row counts match the manifest"
            if result.granular is None else
            f"{result.tables} of its tables ({', '.join(result.granular['restored_tables'])}), "
            f"{result.rows} rows, row counts match the manifest for them")
    left_out = ([] if result.granular is None else
                [f"\n  left out: {o['entry']}: {o['why']}" for o in result.granular["left_out"]])
    return (f"restored {result.backup_id} into {result.target_database} on "
            f"{result.target_server} from {result.source_destination} in "
            f"{result.seconds:.1f} s ({result.loaded_with}): {what}; {result.schema_check}"
            + "".join(left_out)
            + "".join(f"\n  accepted loss: {loss}" for loss in result.accepted_losses))


def cmd_restore(args: argparse.Namespace) -> int:
    if wants_a_moment(args):
        return cmd_restore_to_moment(args)
    selection = Selection.of(args.table, args.schema)  # hostile names refused before all else
    options = RestoreOptions.parse(no_owner=args.no_owner, owner=args.owner,
                                   role_map=args.role_map, accept_loss=args.accept_loss)
    rt = DRRuntime.load(args.config)
    catalog = None if args.from_storage else rt.catalog
    manifest, chosen = _restore_source(args, rt)
    target = target_server(rt.config, manifest, args.target_url)
    if chosen and not args.json:
        print(chosen, file=sys.stderr)
    if args.plan:
        target_db = args.target_db or (replaced_database(rt.config, manifest, args.target_url)
                                       if args.replace else None)
        if not target_db:
            raise DRError("--target-db is required (or --replace to plan an in-place restore)")
        plan = plan_of_backup(manifest, target=target, target_db=target_db, stores=rt.stores,
                              keyring=rt.keyring, options=options, replace_existing=args.replace)
        emit(args, {**plan.to_dict(), "chosen": chosen}, plan.text)
        return 0 if plan.refusal(options.accept_loss) is None else 1
    if args.replace:
        if selection is not None:
            raise DRError(NOT_IN_PLACE)
        if not args.yes:
            raise DRError("--replace swaps the live database: add --yes to confirm")
        target_db = args.target_db or replaced_database(rt.config, manifest, args.target_url)
        _check_target(rt, catalog is not None, manifest, target_db, MODE_REPLACE)
        replaced = restore_in_place(manifest, target_db=target_db, target=target,
                                    stores=rt.stores, keyring=rt.keyring, catalog=catalog,
                                    force_disconnect=args.force_disconnect, requested_by="drctl",
                                    jobs=args.jobs, spool_dir=args.spool_dir, options=options)
        if catalog is not None:
            _audit(rt, "restore", {"backup_id": manifest.backup_id, "target_database": target_db,
                                   "mode": "REPLACE"}, AuditResult.OK,
                   f"previous kept as {replaced.swap.previous}")
        doc = {**replaced.to_dict(), "chosen": chosen}
        emit(args, doc, lambda: f"replaced {target_db} with {manifest.backup_id} (restored in "
                                f"{replaced.restore.seconds:.1f} s, row counts match, "
                                f"{replaced.restore.schema_check}); the "
                                f"previous database is kept as {replaced.swap.previous}: "
                                f"`drctl rollback {manifest.app} --yes` swaps it back")
        return 0
    if not args.target_db:
        raise DRError("--target-db is required (or --replace --yes to restore in place)")
    _check_target(rt, catalog is not None, manifest, args.target_db, MODE_NEW)
    result = restore_backup(manifest, target_db=args.target_db, target=target, stores=rt.stores,
                            keyring=rt.keyring, catalog=catalog, requested_by="drctl",
                            jobs=args.jobs, spool_dir=args.spool_dir, options=options,
                            selection=selection)
    if catalog is not None:
        _audit(rt, "restore", {"backup_id": manifest.backup_id,
                               "target_database": args.target_db, "mode": "NEW_DATABASE",
                               **(selection.to_dict() if selection else {})}, AuditResult.OK)
    emit(args, {**result.to_dict(), "chosen": chosen}, lambda: _restored(result))
    return 0


def _check_target(rt: DRRuntime, audited: bool, manifest: BackupManifest, target_db: str,
                  mode: str) -> None:
    """A target no restore may write (restore.targets) is refused before anything is read,
    and the refusal audited when there is a catalog."""
    try:
        check_restore_target(rt.config, manifest.app, target_db, mode)
    except RestoreTargetRefused as exc:
        if audited:
            _audit(rt, "restore", {"backup_id": manifest.backup_id, "target_database": target_db,
                                   "mode": mode}, AuditResult.REFUSED, str(exc))
        raise


def _audit(rt: DRRuntime, action: str, arguments: dict[str, Any], result: str,
           detail: str | None = None) -> None:
    """drctl actions that change databases are audited; a catalog outage must not turn a
    completed action into a failure, so it is reported on stderr instead."""
    try:
        rt.catalog.audit(f"drctl:{getpass.getuser()}", "cli", action, arguments, result, detail)
    except DRError as exc:
        print(f"drctl: warning: {action} done but not audited (catalog: {exc})", file=sys.stderr)


def cmd_rollback(args: argparse.Namespace) -> int:
    rt = DRRuntime.load(args.config)
    policy = rt.config.app(args.app)
    if not args.yes:
        raise DRError("rollback swaps the live database: add --yes to confirm")
    server = ConnInfo.parse(policy.database_url)
    swap = rollback(server, server.dbname, args.force_disconnect)
    _audit(rt, "rollback", {"app": args.app}, AuditResult.OK, f"{swap.previous} swapped out")
    emit(args, swap.to_dict(), lambda: f"rolled {swap.database} back; the replaced database "
                                       f"is kept as {swap.previous}")
    return 0


def cmd_catalog_sync(args: argparse.Namespace) -> int:
    rt = DRRuntime.load(args.config)
    report = sync_catalog(rt.stores, rt.catalog, instances_dir=rt.config.drills.instances_dir,
                          verify=args.verify, config=rt.config)
    emit(args, report.to_dict(),
         lambda: f"catalog sync: {report.summary()}"
                 + "".join(f"\n  removed the throwaway server of a killed drill: {root}"
                           for root in report.instances_removed)
                 + "".join(f"\n  corrupted: {c}" for c in report.corrupted)
                 + "".join(f"\n  problem: {p}" for p in
                           report.repair_failures + report.unreadable + report.unreachable_stores))
    return 0 if not (report.unreachable_stores or report.corrupted) else 1
