"""drctl wal: stream a server's WAL into the stores, and show how far the archive reaches."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from types import FrameType
from typing import Any

from dr_assets.cli.output import emit, human, table
from dr_assets.core.runtime import DRRuntime
from dr_assets.core.wal.slot_watch import read_slot, slot_condition
from dr_assets.core.wal.spool import Spool
from dr_assets.core.wal.streamer import WalStreamer


def add_wal_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    wal = sub.add_parser("wal", help="continuous WAL protection of a server")
    wal_sub = wal.add_subparsers(dest="wal_command", required=True)
    st = wal_sub.add_parser("stream", parents=[common],
                            help="stream the server's WAL into every store (until SIGTERM)")
    st.add_argument("server")
    st.add_argument("--for", dest="seconds", type=float, default=None, metavar="SECONDS",
                    help="stop after SECONDS (default: run until SIGTERM or SIGINT)")
    st.set_defaults(func=cmd_wal_stream)
    ws = wal_sub.add_parser("status", parents=[common],
                            help="the slot, retained WAL, the newest WAL per store, the spool")
    ws.add_argument("server")
    ws.set_defaults(func=cmd_wal_status)


def cmd_wal_stream(args: argparse.Namespace) -> int:
    rt = DRRuntime.load(args.config)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(message)s")
    streamer = WalStreamer(rt.config, args.server, keyring=rt.keyring, stores=rt.stores,
                           catalog=rt.catalog)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    streamer.run(stop, args.seconds)
    emit(args, {"server": args.server, "stopped": True},
         lambda: f"drctl wal stream {args.server}: stopped")
    return 0


def cmd_wal_status(args: argparse.Namespace) -> int:
    rt = DRRuntime.load(args.config)
    server = rt.config.server(args.server)
    slot = read_slot(server)
    condition = slot_condition(server, slot)
    newest: dict[str, dict[str, Any]] = {}
    for row in rt.catalog.list_wal_files(server.name):
        if row.kind == "history":
            continue
        for store in row.held_by:
            seen = newest.get(store)
            if seen is None or row.received_at > seen["received_at"]:
                newest[store] = {"name": row.name, "received_at": row.received_at,
                                 "written_bytes": row.written_bytes}
    spool = Spool(server.spool(rt.config.path.parent))
    backlog = spool.backlog([s.name for s in rt.stores])
    backlog_bytes = sum(size for _, size, _ in backlog)
    doc: dict[str, Any] = {
        "server": server.name, "slot": slot.to_dict(),
        "alert": {"severity": condition[0], "message": condition[1]} if condition else None,
        "newest_wal": {s.name: newest.get(s.name) for s in rt.stores},
        "spool": {"dir": str(spool.root), "backlog_files": len(backlog),
                  "backlog_bytes": backlog_bytes,
                  "files": [{"name": n, "bytes": b, "missing_in": m} for n, b, m in backlog]},
    }

    def text() -> str:
        if not slot.exists:
            state = f"slot {slot.slot}: does not exist"
        else:
            state = (f"slot {slot.slot}: {'active' if slot.active else 'inactive'}"
                     f" (pid {slot.active_pid})" if slot.active else
                     f"slot {slot.slot}: inactive")
            state += (f", wal_status {slot.wal_status}, retains "
                      f"{human(slot.retained_bytes or 0)}, max_slot_wal_keep_size "
                      + (human(slot.max_slot_wal_keep_size) if slot.max_slot_wal_keep_size
                         is not None else "unlimited"))
        lines = [f"server {server.name}: {state}"]
        if condition:
            lines.append(f"  {condition[0].upper()}: {condition[1]}")
        lines += table([("store", "12"), ("newest WAL", "34"), ("received at", "")],
                       ([s, (newest[s]["name"] if newest.get(s) else "(none)"),
                         (newest[s]["received_at"] if newest.get(s) else "")]
                        for s in (st.name for st in rt.stores)))
        lines.append(f"spool {spool.root}: {len(backlog)} file(s), "
                     f"{human(backlog_bytes)} not yet in every store")
        return "\n".join(lines)

    emit(args, doc, text)
    return 0
