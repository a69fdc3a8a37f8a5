"""drctl commands of recovery to a moment: an app's database as of a time, LSN, restore
point or the newest WAL (`restore APP --to-time ...`), a whole server's data directory
(`restore-server`), and the recoverable window (`window`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from dr_assets.cli.output import emit
from dr_assets.core.errors import DRError
from dr_assets.core.format.manifest import iso
from dr_assets.core.restore.plan import RestoreOptions
from dr_assets.core.restore.restore import MODE_NEW
from dr_assets.core.restore.targets import check_restore_target
from dr_assets.core.runtime import DRRuntime
from dr_assets.core.wal.app_restore import restore_app_to
from dr_assets.core.wal.planning import read_window
from dr_assets.core.wal.recovery import RecoveredServer, recover_server
from dr_assets.core.wal.restore_points import restore_point_target
from dr_assets.core.wal.restore_requests import requested_target
from dr_assets.core.wal.targets import RecoveryTarget
from dr_assets.core.wal.window import RecoveryWindow

TARGET_FLAGS = ("to_time", "to_lsn", "to_point", "to_latest")
NOT_WITH_A_MOMENT = ("as_of", "replace", "plan", "table", "schema", "from_storage")


def add_target_arguments(parser: argparse.ArgumentParser, required: bool) -> None:
    group = parser.add_mutually_exclusive_group(required=required)
    group.add_argument("--to-time", metavar="TIME",
                       help="recover to this moment through the WAL: ISO 8601 with Z or an "
                            "offset, such as 2026-11-20T06:00:00Z")
    group.add_argument("--to-lsn", metavar="LSN", help="recover to this WAL position (0/3000060)")
    group.add_argument("--to-point", metavar="NAME",
                       help="recover to this restore point of the server (as the catalog "
                            "records them, with their row counts)")
    group.add_argument("--to-latest", action="store_true",
                       help="recover to the newest WAL the stores hold")


def wants_a_moment(args: argparse.Namespace) -> bool:
    return any(getattr(args, flag, None) for flag in TARGET_FLAGS)


def target_of(args: argparse.Namespace, rt: DRRuntime, server: str) -> RecoveryTarget:
    if args.to_point:
        return restore_point_target(rt.catalog, server, args.to_point)
    return (requested_target(args.to_time, args.to_lsn, args.to_latest)
            or RecoveryTarget.latest())


def _recovery_lines(rec: RecoveredServer) -> list[str]:
    lines = [f"  from base backup {rec.base_backup_id} ({rec.base_store}, "
             f"{rec.base_fetch_seconds:.1f} s), WAL replayed in {rec.replay_seconds:.1f} s "
             f"({len(rec.fetch.served)} files), now on timeline {rec.timeline}"]
    if rec.last_replayed is not None:
        lines.append(f"  last transaction replayed: {iso(rec.last_replayed)}")
    if rec.to_end_of_wal:
        lines.append("  no commit after the target in the WAL: recovered to the end of WAL")
    for name, bad in rec.bad_copies.items():
        for store, why in bad.items():
            lines.append(f"  bad copy passed over: {name} on {store}: {why}")
    return lines


def cmd_restore_to_moment(args: argparse.Namespace) -> int:
    """`drctl restore APP --to-time|--to-lsn|--to-latest --target-db NAME`."""
    used = [f"--{f.replace('_', '-')}" for f in NOT_WITH_A_MOMENT if getattr(args, f, None)]
    if used:
        raise DRError(f"{', '.join(used)} cannot be combined with --to-time, --to-lsn, "
                      "--to-point or --to-latest: recovery to a moment restores the whole database into a "
                      "new one")
    if not args.target_db:
        raise DRError("--target-db is required: recovery to a moment restores into a new "
                      "database")
    options = RestoreOptions.parse(no_owner=args.no_owner, owner=args.owner,
                                   role_map=args.role_map, accept_loss=args.accept_loss)
    rt = DRRuntime.load(args.config)
    server = rt.config.app(args.backup_id).server
    check_restore_target(rt.config, args.backup_id, args.target_db, MODE_NEW)
    target = target_of(args, rt, server) if server else RecoveryTarget.latest()
    result = restore_app_to(rt.config, args.backup_id, target, args.target_db, args.target_url,
                            keyring=rt.keyring, stores=rt.stores, catalog=rt.catalog,
                            options=options, parent=rt.config.drills.instances_dir,
                            requested_by="drctl")

    def text() -> str:
        return "\n".join([
            f"restored {result.app} as of {target.describe()} into {result.target_database} "
            f"on {result.target_server} in {result.seconds:.1f} s: {result.tables} tables, "
            f"{result.rows} rows, row counts match the recovered database; "
            f"{result.schema_check}", *_recovery_lines(result.recovered),
            *(f"  accepted loss: {loss}" for loss in result.accepted_losses)])

    emit(args, result.to_dict(), text)
    return 0


def cmd_restore_server(args: argparse.Namespace) -> int:
    rt = DRRuntime.load(args.config)
    target = target_of(args, rt, rt.config.server(args.server).name)
    rec = recover_server(rt.config, args.server, target, keyring=rt.keyring, stores=rt.stores,
                         data_dir=Path(args.data_dir), parent=rt.config.drills.instances_dir)

    def text() -> str:
        return "\n".join([
            f"recovered server {rec.server} as of {target.describe()} into {rec.data_dir} "
            "(promoted, stopped cleanly, owned by the server's user)", *_recovery_lines(rec),
            "  start it as the server's user, for example: runuser -u postgres -- pg_ctl "
            f"-D {rec.data_dir} -o '-p 5433' start",
            "  its pg_hba.conf and postgresql.conf are the backed-up server's: check the port "
            "and the archive settings before starting it beside the original"])

    emit(args, rec.to_dict(), text)
    return 0


def window_doc(window: RecoveryWindow) -> dict[str, Any]:
    return {
        "server": window.server,
        "earliest": iso(window.earliest) if window.earliest else None,
        "latest": iso(window.latest) if window.latest else None,
        "base_backups": [{"backup_id": r.base.backup_id,
                          "earliest": iso(r.earliest),
                          "latest": iso(r.latest) if r.latest else None,
                          "wal": r.chain.message, "gap_at": r.chain.gap_at}
                         for r in window.ranges],
    }


def cmd_window(args: argparse.Namespace) -> int:
    rt = DRRuntime.load(args.config)
    if args.server and args.app:
        raise DRError("give an app or --server, not both")
    if args.server:
        server = rt.config.server(args.server).name
    elif args.app:
        found = rt.config.app(args.app).server
        if found is None:
            raise DRError(f"app {args.app} is not under continuous protection (no server = "
                          "in its [apps] section): its recovery points are its backups")
        server = found
    else:
        raise DRError("give an app or --server SERVER")
    doc = window_doc(read_window(server, rt.stores, rt.keyring))
    if args.app:
        doc["app"] = args.app

    def text() -> str:
        if not doc["base_backups"]:
            return (f"server {server}: nothing recoverable (no base backup whose WAL reaches "
                    "its consistent point)")
        lines = [f"server {server}: recoverable from {doc['earliest']} to {doc['latest']}"]
        lines += [f"  base backup {b['backup_id']}: {b['earliest']} .. {b['latest']} "
                  f"(WAL {b['wal']})" for b in doc["base_backups"]]
        return "\n".join(lines)

    emit(args, doc, text)
    return 0
