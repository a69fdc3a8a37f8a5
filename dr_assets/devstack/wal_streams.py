"""`make up` starts one WAL streamer (`drctl wal stream NAME`) per [servers.NAME] of dr.toml,
after checking the server can be streamed from (which creates a missing slot); `make down`
stops it with the rest (its pg_receivewal is in its process group, and dies with it)."""

from __future__ import annotations

from collections.abc import Callable

from dr_assets.core.errors import DRError
from dr_assets.core.policy import DRConfig, ServerPolicy
from dr_assets.core.wal.preflight import check_server
from dr_assets.core.wal.slot_watch import read_slot
from dr_assets.devstack.dagster_stack import Service, StackEnv, ensure_service, venv_bin
from dr_assets.devstack.report import Report
from dr_assets.devstack.services import wal_streamer

STREAMER_TIMEOUT = 30.0


def slot_active(server: ServerPolicy) -> Callable[[float], bool]:
    """Ready once the server's slot is active (its pg_receivewal streams)."""
    def ready(since: float) -> bool:
        try:
            return read_slot(server).active
        except DRError:
            return False
    return ready


def ensure_wal_streamers(config: DRConfig, senv: StackEnv, report: Report) -> None:
    for server in config.servers.values():
        label = f"wal {server.name}"
        try:
            pre = check_server(server)
        except DRError as exc:
            report.problem(label, f"not streamed: {exc}")
            continue
        if pre.slot_created:
            report.change(label, f"created replication slot {server.slot} on "
                          f"{server.conninfo.safe_url}")
        svc = Service(
            wal_streamer(server.name), label,
            [str(venv_bin("drctl")), "wal", "stream", server.name],
            marker=f"wal stream {server.name}",
            ready=slot_active(server), timeout=STREAMER_TIMEOUT,
            settings={"DR_CONFIG": senv.env["DR_CONFIG"], "slot": server.slot},
        )
        ensure_service(svc, senv, report)
