"""`drctl`: the command line of the DR control plane."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from dr_assets.core.backup import run_backup
from dr_assets.core.copies import find_manifest, list_manifests
from dr_assets.core.errors import DRError, StoreError
from dr_assets.core.keys import generate_key_file
from dr_assets.core.pgtools import ConnInfo
from dr_assets.core.restore import restore_backup
from dr_assets.core.runtime import DRRuntime
from dr_assets.core.sync import sync_catalog
from dr_assets.core.verify import verify_backup


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} TiB"


def _emit(args: argparse.Namespace, doc: Any, text: Callable[[], str]) -> None:
    if args.json:
        print(json.dumps(doc, indent=2, default=str))
    else:
        print(text())


def _progress_printer(args: argparse.Namespace) -> Callable[[int, int, float], None] | None:
    if args.json or not sys.stderr.isatty():
        return None

    def show(raw: int, stored: int, elapsed: float) -> None:
        rate = raw / elapsed if elapsed > 0 else 0
        sys.stderr.write(f"\r  dumped {_human(raw)}, stored {_human(stored)}, "
                         f"{_human(rate)}/s, {elapsed:.0f} s   ")
        sys.stderr.flush()

    return show


def cmd_key_generate(args: argparse.Namespace) -> int:
    key = generate_key_file(Path(args.path))
    _emit(args, {"path": args.path, "key_id": key.key_id},
          lambda: f"wrote master key {key.key_id} to {args.path}: keep a copy somewhere safe, "
                  "backups cannot be restored without it")
    return 0


def cmd_apps(args: argparse.Namespace) -> int:
    rt = DRRuntime.load(args.config)
    apps = [
        {"name": a.name, "database": ConnInfo.parse(a.database_url).safe_url,
         "rto_hours": a.rto_hours, "rpo_hours": a.rpo_hours, "every_hours": a.every_hours,
         "retention_days": a.retention_days, "critical": a.critical, "min_keep": a.min_keep}
        for a in rt.config.apps.values()
    ]

    def text() -> str:
        lines = [f"{'app':24} {'RTO':>5} {'RPO':>5} {'every':>6} {'keep':>6} critical"]
        for a in apps:
            lines.append(f"{a['name']:24} {a['rto_hours']:>4}h {a['rpo_hours']:>4}h "
                         f"{a['every_hours']:>5}h {a['retention_days']:>5}d "
                         f"{'yes' if a['critical'] else 'no'}")
        return "\n".join(lines)

    _emit(args, apps, text)
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    rt = DRRuntime.load(args.config)
    progress = _progress_printer(args)
    result = run_backup(rt.config, args.app, keyring=rt.keyring, stores=rt.stores,
                        catalog=rt.catalog, progress=progress)
    if progress:
        sys.stderr.write("\n")
    doc = result.to_dict()

    def text() -> str:
        m = result.manifest
        lines = [f"backup {m.backup_id}: {m.status}",
                 f"  {_human(m.raw_bytes)} dumped, {_human(m.stored_bytes)} stored in "
                 f"{result.duration_seconds:.1f} s, sha256 {m.sha256}"]
        for name, d in m.destinations.items():
            lines.append(f"  {name}: {d.status}" + (f" ({d.error})" if d.error else ""))
        return "\n".join(lines)

    _emit(args, doc, text)
    return 0


def cmd_backups(args: argparse.Namespace) -> int:
    rt = DRRuntime.load(args.config)
    if args.app:
        rt.config.app(args.app)
    if args.from_storage:
        rows: list[dict[str, Any]] = []
        seen: dict[str, dict[str, Any]] = {}
        problems = []
        for store in rt.stores:
            try:
                for m in list_manifests(store):
                    if isinstance(m, DRError):
                        problems.append(str(m))
                        continue
                    if args.app and m.app != args.app:
                        continue
                    entry = seen.setdefault(m.backup_id, {
                        "backup_id": m.backup_id, "app": m.app, "status": m.status,
                        "started_at": m.started_at, "stored_bytes": m.stored_bytes,
                        "sha256": m.sha256, "found_in": []})
                    entry["found_in"].append(store.name)
            except StoreError as exc:
                problems.append(str(exc))
        rows = sorted(seen.values(), key=lambda r: r["backup_id"], reverse=True)
        for p in problems:
            print(f"drctl: warning: {p}", file=sys.stderr)
    else:
        rows = [r.to_dict() for r in rt.catalog.list_backups(app=args.app, limit=args.limit)]

    def text() -> str:
        lines = [f"{'backup_id':48} {'status':10} {'stored':>10}  where"]
        for r in rows:
            where = r.get("found_in") or sorted(
                n for n, c in r.get("copies", {}).items() if c.get("status") == "ok")
            lines.append(f"{r['backup_id']:48} {r['status']:10} "
                         f"{_human(r['stored_bytes'] or 0):>10}  {','.join(where)}")
        return "\n".join(lines)

    _emit(args, rows, text)
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

    _emit(args, result.to_dict(), text)
    if not result.ok:
        bad = ", ".join(c.destination for c in result.failures)
        print(f"drctl: backup {result.backup_id} failed verification on {bad}: "
              "restore from another copy or an older backup", file=sys.stderr)
        return 1
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    rt = DRRuntime.load(args.config)
    catalog = None if args.from_storage else rt.catalog
    manifest = find_manifest(args.backup_id, rt.stores, catalog)
    policy = rt.config.apps.get(manifest.app)
    if args.target_url:
        target = ConnInfo.parse(args.target_url)
    elif policy is not None:
        target = ConnInfo.parse(policy.database_url)
    else:
        raise DRError(f"app {manifest.app} is not in the config: pass --target-url")
    result = restore_backup(manifest, target_db=args.target_db, target=target, stores=rt.stores,
                            keyring=rt.keyring, catalog=catalog, requested_by="drctl")
    _emit(args, result.to_dict(),
          lambda: f"restored {result.backup_id} into {result.target_database} on "
                  f"{result.target_server} from {result.source_destination} in "
                  f"{result.seconds:.1f} s: {result.tables} tables, {result.rows} rows, "
                  "row counts match the manifest")
    return 0


def cmd_catalog_sync(args: argparse.Namespace) -> int:
    rt = DRRuntime.load(args.config)
    report = sync_catalog(rt.stores, rt.catalog)
    _emit(args, report.to_dict(),
          lambda: f"catalog sync: {report.backups_found} backups in the stores, "
                  f"{len(report.copies_repaired)} copies repaired, "
                  f"{len(report.marked_deleted)} marked deleted, "
                  f"{len(report.marked_failed)} marked failed, "
                  f"{report.partials_removed} partial uploads removed"
                  + "".join(f"\n  problem: {p}" for p in
                            report.repair_failures + report.unreadable + report.unreachable_stores))
    return 0 if not report.unreachable_stores else 1


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

    sub.add_parser("apps", parents=[common], help="list apps and their policies").set_defaults(
        func=cmd_apps)

    b = sub.add_parser("backup", parents=[common], help="back an app's database up now")
    b.add_argument("app")
    b.set_defaults(func=cmd_backup)

    bs = sub.add_parser("backups", parents=[common], help="list backups")
    bs.add_argument("app", nargs="?")
    bs.add_argument("--from-storage", action="store_true",
                    help="read the stores' manifests instead of the catalog")
    bs.add_argument("--limit", type=int, default=None)
    bs.set_defaults(func=cmd_backups)

    v = sub.add_parser("verify", parents=[common], help="re-read every copy and check SHA-256")
    v.add_argument("backup_id")
    v.add_argument("--from-storage", action="store_true")
    v.set_defaults(func=cmd_verify)

    r = sub.add_parser("restore", parents=[common], help="restore a backup into a new database")
    r.add_argument("backup_id")
    r.add_argument("--target-db", required=True, help="name of the database to create")
    r.add_argument("--target-url", help="server to restore to (default: the app's server)")
    r.add_argument("--from-storage", action="store_true",
                   help="work from the stores and the key alone (catalog down)")
    r.set_defaults(func=cmd_restore)

    c = sub.add_parser("catalog", help="the catalog index")
    c_sub = c.add_subparsers(dest="catalog_command", required=True)
    s = c_sub.add_parser("sync", parents=[common],
                         help="repair missing copies and rebuild the catalog from the stores")
    s.set_defaults(func=cmd_catalog_sync)
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


if __name__ == "__main__":
    sys.exit(main())
