"""`drctl`: the command line of the DR control plane."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from dr_assets.cli.backups import (
    cmd_backup,
    cmd_backups,
    cmd_catalog_sync,
    cmd_contents,
    cmd_restore,
    cmd_rollback,
    cmd_verify,
)
from dr_assets.cli.operations import (
    cmd_alerts,
    cmd_apps,
    cmd_audit_verify,
    cmd_drill,
    cmd_key_generate,
    cmd_key_rotate,
    cmd_retention,
    cmd_status,
    cmd_token,
)
from dr_assets.cli.recovery import (
    add_target_arguments,
    cmd_restore_server,
    cmd_window,
)
from dr_assets.cli.report import cmd_report
from dr_assets.cli.servers import cmd_base_backup, cmd_base_backups
from dr_assets.cli.tickets import add_ticket_commands
from dr_assets.cli.wal import add_wal_commands
from dr_assets.core.access.tokens import ROLES
from dr_assets.core.compliance import FORMATS
from dr_assets.core.errors import DRError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="drctl", description=__doc__)
    parser.add_argument("--config", help="path to dr.toml (default: $DR_CONFIG or ./dr.toml)")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print one JSON document")
    sub = parser.add_subparsers(dest="command", required=True)

    key = sub.add_parser("key", help="master keys")
    key_sub = key.add_subparsers(dest="key_command", required=True)
    gen = key_sub.add_parser("generate", parents=[common], help="write a new random master key")
    gen.add_argument("path")
    gen.set_defaults(func=cmd_key_generate)
    rot = key_sub.add_parser("rotate", parents=[common],
                             help="write a new master key and say how to switch dr.toml to it")
    rot.add_argument("path", help="where to write the new key")
    rot.set_defaults(func=cmd_key_rotate)

    sub.add_parser("apps", parents=[common], help="list apps and their policies").set_defaults(
        func=cmd_apps)

    b = sub.add_parser("backup", parents=[common],
                       help="back an app's database up now (its contents compared with its "
                            "recent backups); `backup release BACKUP_ID --reason TEXT` "
                            "releases a backup the contents check held")
    b.add_argument("app", help="the app to back up; `release` to release a held backup")
    b.add_argument("backup_id", nargs="?", help="with release: the held backup")
    b.add_argument("--no-verify", action="store_true",
                   help="skip re-reading every copy to check its SHA-256 afterwards")
    b.add_argument("--reason", help="with release: why the change the check found was expected "
                                    "(recorded with the release and in the audit log)")
    b.set_defaults(func=cmd_backup)

    bs = sub.add_parser("backups", parents=[common], help="list backups")
    bs.add_argument("app", nargs="?")
    bs.add_argument("--from-storage", action="store_true",
                    help="read the stores' manifests instead of the catalog")
    bs.add_argument("--limit", type=int, default=None)
    bs.set_defaults(func=cmd_backups)

    bb = sub.add_parser("base-backup", parents=[common],
                        help="take a base backup of a protected server now (pg_basebackup)")
    bb.add_argument("server")
    bb.add_argument("--no-verify", action="store_true",
                    help="skip re-reading every copy to check its SHA-256 afterwards")
    bb.set_defaults(func=cmd_base_backup)

    bbs = sub.add_parser("base-backups", parents=[common], help="list a server's base backups")
    bbs.add_argument("server")
    bbs.add_argument("--from-storage", action="store_true",
                     help="read the stores' base backup manifests instead of the catalog")
    bbs.set_defaults(func=cmd_base_backups)

    v = sub.add_parser("verify", parents=[common], help="re-read every copy and check SHA-256")
    v.add_argument("backup_id")
    v.add_argument("--from-storage", action="store_true")
    v.set_defaults(func=cmd_verify)

    ct = sub.add_parser("contents", parents=[common],
                        help="list a backup's schemas, tables (with their row counts) and other "
                             "objects, from the head of a stored copy")
    ct.add_argument("backup_id")
    ct.add_argument("--from-storage", action="store_true",
                    help="read the manifest from the stores instead of the catalog")
    ct.set_defaults(func=cmd_contents)

    r = sub.add_parser("restore", parents=[common],
                       help="restore a backup into a new database, or in place")
    r.add_argument("backup_id", help="a backup id; with --as-of or --to-*, an app name")
    r.add_argument("--target-db", help="name of the database to create (or to replace)")
    r.add_argument("--target-url", help="server to restore to (default: the app's server)")
    r.add_argument("--from-storage", action="store_true",
                   help="work from the stores and the key alone (catalog down)")
    r.add_argument("--as-of", help="restore the newest backup taken at or before this time")
    r.add_argument("--replace", action="store_true",
                   help="restore into a scratch database, validate, then swap it in place of "
                        "the target (default: the app's database), keeping the old one")
    r.add_argument("--yes", action="store_true", help="confirm --replace")
    r.add_argument("--force-disconnect", action="store_true",
                   help="with --replace: end other sessions on the target")
    r.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="restore with N parallel pg_restore jobs: the decrypted dump is first "
                        "written to --spool-dir (needs room for the whole uncompressed dump; "
                        "mode 0600, removed afterwards); without room it streams (default 1)")
    r.add_argument("--spool-dir", type=Path, default=None, metavar="DIR",
                   help="where --jobs spools the dump (default: the system temp directory)")
    r.add_argument("--plan", action="store_true",
                   help="print what the restore would do on the target (roles to create, "
                        "roles present and how they differ, the database's properties, "
                        "extensions, what would be lost) and change nothing; exit 1 if the "
                        "restore would refuse")
    r.add_argument("--accept-loss", action="store_true",
                   help="restore even though the plan names losses (never past a blocker)")
    r.add_argument("--no-owner", action="store_true",
                   help="do not restore object ownership: objects and the database belong to "
                        "the restoring role, or to --owner")
    r.add_argument("--owner", metavar="NAME",
                   help="with --no-owner (implied): an existing role to own the database and "
                        "every restored object")
    r.add_argument("--role-map", action="append", default=[], metavar="OLD=NEW",
                   help="restore what belongs to the backup's role OLD (owned objects, grants, "
                        "policies, default privileges) to the target's existing role NEW; "
                        "repeatable")
    r.add_argument("--table", action="append", default=[], metavar="SCHEMA.TABLE",
                   help="restore only this table (repeatable), with what it needs (its schema, "
                        "types, functions, sequences, indexes, constraints, triggers; not "
                        "foreign keys to tables left out); a partitioned table brings its "
                        "partitions. Plain names fold to lower case; quote others: "
                        "'\"Odd\".\"Name\"'. Into a new database only")
    r.add_argument("--schema", action="append", default=[], metavar="NAME",
                   help="restore only this schema (repeatable), everything in it")
    add_target_arguments(r, required=False)
    r.set_defaults(func=cmd_restore)

    rs = sub.add_parser("restore-server", parents=[common],
                        help="recover a whole protected server to a moment into a data "
                             "directory, for an operator to start")
    rs.add_argument("server")
    add_target_arguments(rs, required=True)
    rs.add_argument("--data-dir", required=True, metavar="DIR",
                    help="where to write the data directory (missing or empty)")
    rs.set_defaults(func=cmd_restore_server)

    w = sub.add_parser("window", parents=[common],
                       help="the recoverable window of an app's server, from the stores")
    w.add_argument("app", nargs="?")
    w.add_argument("--server", help="a server of [servers] instead of an app")
    w.set_defaults(func=cmd_window)

    c = sub.add_parser("catalog", help="the catalog index")
    c_sub = c.add_subparsers(dest="catalog_command", required=True)
    s = c_sub.add_parser("sync", parents=[common],
                         help="repair missing copies and rebuild the catalog from the stores")
    s.add_argument("--verify", action="store_true",
                   help="a full pass: read every manifest and re-read every copy to check its "
                        "SHA-256, replacing a corrupted one (without it only new or changed "
                        "manifests are read and copies are only listed)")
    s.set_defaults(func=cmd_catalog_sync)
    rb = sub.add_parser("rollback", parents=[common],
                        help="swap back the database an in-place restore replaced")
    rb.add_argument("app")
    rb.add_argument("--yes", action="store_true", help="confirm")
    rb.add_argument("--force-disconnect", action="store_true", help="end other sessions first")
    rb.set_defaults(func=cmd_rollback)

    d = sub.add_parser("drill", parents=[common],
                       help="restore the newest verified backup into a scratch database, timed")
    d.add_argument("app")
    d.add_argument("--point-in-time", action="store_true",
                   help="recover the app's server from WAL to a random restore point inside "
                        "its window in a throwaway instance and compare every table's rows")
    d.add_argument("--point", metavar="NAME",
                   help="with --point-in-time: this restore point instead of a random one")
    d.set_defaults(func=cmd_drill)

    rp = sub.add_parser("retention", parents=[common],
                        help="preview (default) or apply the retention policy")
    rp.add_argument("app", nargs="?", help="only this app (default: every app and server)")
    rp.add_argument("--server", metavar="SERVER",
                    help="only this protected server's base backups and WAL")
    rp.add_argument("--apply", action="store_true", help="delete what the preview lists")
    rp.set_defaults(func=cmd_retention)

    sub.add_parser("status", parents=[common], help="health score per app and overall"
                   ).set_defaults(func=cmd_status)

    al = sub.add_parser("alerts", parents=[common], help="list alerts")
    al.add_argument("--active", action="store_true", help="only open alerts")
    al.set_defaults(func=cmd_alerts)
    t = sub.add_parser("token", parents=[common], help="mint a local API token (HS256)")
    t.add_argument("--role", required=True, choices=list(ROLES))
    t.add_argument("--subject", required=True, help="who the token is for")
    t.add_argument("--ttl", type=int, default=3600, help="seconds until it expires")
    t.set_defaults(func=cmd_token)

    rep = sub.add_parser("report", parents=[common],
                         help="compliance evidence of a period (windows covered, checks, drills, "
                              "deletions, alerts, restores, audit chain)")
    rep.add_argument("--from", dest="from_day", required=True, metavar="YYYY-MM-DD",
                     help="first day of the period (UTC)")
    rep.add_argument("--to", dest="to_day", required=True, metavar="YYYY-MM-DD",
                     help="last day of the period (UTC, included)")
    rep.add_argument("--format", choices=FORMATS,
                     help="html (default), json or csv; with --output, taken from its extension")
    rep.add_argument("--output", metavar="FILE", help="write the report there instead of stdout")
    rep.set_defaults(func=cmd_report)

    au = sub.add_parser("audit", help="the audit log")
    au_sub = au.add_subparsers(dest="audit_command", required=True)
    av = au_sub.add_parser("verify", parents=[common], help="check the audit log's hash chain")
    av.set_defaults(func=cmd_audit_verify)

    add_wal_commands(sub, common)
    add_ticket_commands(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
        return code
    except DRError as exc:
        print(f"drctl: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("drctl: interrupted", file=sys.stderr)
        return 130
