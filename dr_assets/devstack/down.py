"""`make down`: stop what `make up` started, by the PIDs in `.dr/run/`, and nothing else.

    python -m dr_assets.devstack.down [--config dr.toml]

Each service is stopped with its whole process group (the code servers and run workers
of dagster-webserver and dagster-daemon included). PostgreSQL, the demo databases, the
Dagster database, the key, the backups and SeaweedFS's data stay; a process whose PID
was reused by something else is left alone.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence

from dr_assets.core.errors import DRError
from dr_assets.core.pg.command import ToolFailed
from dr_assets.core.policy import load_config
from dr_assets.devstack.demo_server import stop_demo_server
from dr_assets.devstack.services import group_members, lookup, orphans, stop_group, stop_order
from dr_assets.devstack.state import Paths, ProcessRecord, RunDir


def gone(rec: ProcessRecord, timeout: float = 5) -> bool:
    """After a SIGKILL the processes may need a moment to die (they are not our children)."""
    deadline = time.monotonic() + timeout
    while rec.alive() or group_members(rec.pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def main(argv: Sequence[str] | None = None) -> int:
    paths = Paths.from_args("down", __doc__, argv)
    run = RunDir(paths)
    stopped: list[str] = []
    slots: list[str] = []
    for name in stop_order(run.names()):
        rec = run.get(name)
        service = lookup(name)
        if rec is None:
            run.remove(name)
            print(f"  {service.title}: unreadable PID file removed")
            continue
        if not rec.alive():
            left = orphans(rec)
            if left:
                print(f"  {service.title}: pid {rec.pid} is gone; stopping what it left behind "
                      f"in its process group (pids {', '.join(map(str, left))})", flush=True)
                stop_group(rec.pid)
                if group_members(rec.pid):
                    print(f"make down: processes of group {rec.pid} did not stop: "
                          f"kill -9 -- -{rec.pid}", file=sys.stderr)
                    return 1
                stopped.append(f"leftovers of {service.title}")
            else:
                print(f"  {service.title}: not running (pid {rec.pid} is gone or is another "
                      "program now); PID file removed")
            run.remove(name)
            continue
        members = group_members(rec.pid)
        extra = f" and {len(members) - 1} child process(es)" if len(members) > 1 else ""
        print(f"  {service.title}: stopping pid {rec.pid}{extra}", flush=True)
        started = time.monotonic()
        try:
            service.stop(rec.pid)
        except RuntimeError as exc:
            print(f"make down: {service.title} (pid {rec.pid}): {exc}", file=sys.stderr)
            return 1
        if not gone(rec):
            print(f"make down: {service.title} (pid {rec.pid}) did not stop: "
                  f"kill -9 -- -{rec.pid}", file=sys.stderr)
            return 1
        took = time.monotonic() - started
        if took > 3:
            print(f"  {service.title}: stopped after {took:.1f} s")
        run.remove(name)
        stopped.append(f"{service.title} (pid {rec.pid})")
        slot = (rec.details.get("settings") or {}).get("slot")
        if slot:
            slots.append(str(slot))
    try:
        config = load_config(paths.config)
        demo = stop_demo_server(config, paths)
    except (DRError, ToolFailed) as exc:
        print(f"make down: the demo PostgreSQL server did not stop: {exc}", file=sys.stderr)
        return 1
    if demo:
        stopped.append(demo)
    if stopped:
        print(f"make down: stopped {', '.join(stopped)}.\n  PostgreSQL, the databases (Dagster's "
              f"runs included), the key and the data under {paths.show(paths.dr_dir)}/ stay; "
              "`make up` starts again.")
        for slot in slots:
            print(f"  Replication slot {slot} stays: the server keeps the WAL the streamer has "
                  "not taken (until `make up`, up to its max_slot_wal_keep_size); to stop "
                  "protecting that server, "
                  f"drop it:  SELECT pg_drop_replication_slot('{slot}');")
    else:
        print("make down: nothing to stop (no process started by `make up` is running).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
