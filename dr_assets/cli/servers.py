"""drctl commands over protected servers: take a base backup now, list base backups."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from dr_assets.cli.output import copies_lines, emit, human, table
from dr_assets.core.runtime import DRRuntime
from dr_assets.core.statuses import CopyStatus
from dr_assets.core.wal.base_backup import (
    list_base_backups_in_stores,
    run_base_backup,
    verify_base_backup,
)


def cmd_base_backup(args: argparse.Namespace) -> int:
    rt = DRRuntime.load(args.config)
    rt.config.server(args.server)
    m = run_base_backup(rt.config, args.server, keyring=rt.keyring, stores=rt.stores,
                        catalog=rt.catalog)
    doc: dict[str, Any] = m.to_dict()
    doc.pop("encryption")
    doc["key_id"] = m.encryption.key_id
    if not args.no_verify:
        check = verify_base_backup(m, rt.stores)
        doc["verified"] = check.ok
        doc["verify_errors"] = [c.error for c in check.failures]

    def text() -> str:
        lines = [f"base backup {m.backup_id} of server {m.server}: {m.status}",
                 f"  {human(m.raw_bytes)} read, {human(m.stored_bytes)} stored, "
                 f"sha256 {m.sha256}",
                 f"  timeline {m.timeline}, WAL {m.start_lsn} .. {m.stop_lsn} "
                 f"(recovery needs WAL from {m.start_wal} on)"]
        return "\n".join([*lines, *copies_lines(m.destinations, doc)])

    emit(args, doc, text)
    return 0 if doc.get("verified", True) else 1


def _ok_stores(manifest: dict[str, Any] | None) -> list[str]:
    destinations = (manifest or {}).get("destinations", {})
    return sorted(n for n, d in destinations.items() if d.get("status") == CopyStatus.OK)


def cmd_base_backups(args: argparse.Namespace) -> int:
    rt = DRRuntime.load(args.config)
    rt.config.server(args.server)
    rows: list[dict[str, Any]]
    if args.from_storage:
        rows = [{"backup_id": m.backup_id, "server": m.server, "status": m.status,
                 "started_at": m.started_at, "timeline": m.timeline, "start_lsn": m.start_lsn,
                 "stop_lsn": m.stop_lsn, "start_wal": m.start_wal,
                 "stored_bytes": m.stored_bytes, "sha256": m.sha256,
                 "found_in": m.ok_destinations}
                for m in reversed(list_base_backups_in_stores(args.server, rt.stores))]
    else:
        rows = [{k: v for k, v in r.to_dict().items() if k != "manifest"}
                | {"found_in": _ok_stores(r.manifest)}
                for r in rt.catalog.list_base_backups(args.server)]
    if not rows:
        print(f"drctl: server {args.server} has no base backup"
              + ("" if args.from_storage else " in the catalog (try --from-storage)"),
              file=sys.stderr)

    def text() -> str:
        return "\n".join(table(
            [("backup_id", "36"), ("status", "10"), ("tli", ">4"), ("start_lsn", ">12"),
             ("stored", ">10"), (" where", "")],
            ([r["backup_id"], r["status"], r["timeline"] or "-", r["start_lsn"] or "-",
              human(r["stored_bytes"] or 0), " " + ",".join(r["found_in"] or [])]
             for r in rows)))

    emit(args, rows, text)
    return 0
