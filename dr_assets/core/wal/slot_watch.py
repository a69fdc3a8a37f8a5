"""How much WAL a server keeps for its replication slot, and the alert before it threatens
the server's disk: retained bytes (current LSN - restart_lsn) over slot_alert_fraction of
max_slot_wal_keep_size, or over slot_alert_gb where that is unlimited; critical once the
server has lost (or is about to drop) WAL the slot needed, or the slot is gone."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg2

from dr_assets.core.catalog import Catalog
from dr_assets.core.errors import DRError
from dr_assets.core.pg.conninfo import ConnInfo
from dr_assets.core.pg.sessions import connection
from dr_assets.core.pg.wal_names import parse_lsn
from dr_assets.core.policy import DRConfig, ServerPolicy

SLOT_FILLING = "wal_slot_filling"
WAL_CONFLICT = "wal_conflict"
WARNING, CRITICAL = "warning", "critical"
GIB = 1 << 30


def alert_app(server: str) -> str:
    return f"server:{server}"


@dataclass(frozen=True)
class SlotState:
    slot: str
    exists: bool
    active: bool = False
    active_pid: int | None = None
    wal_status: str | None = None  # reserved, extended, unreserved, lost
    safe_wal_size: int | None = None
    restart_lsn: str | None = None
    current_lsn: str | None = None
    retained_bytes: int | None = None
    max_slot_wal_keep_size: int | None = None  # bytes; None = unlimited

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def read_slot(server: ServerPolicy, info: ConnInfo | None = None) -> SlotState:
    with connection(info or server.conninfo) as conn, conn.cursor() as cur:
        cur.execute("SELECT setting::bigint FROM pg_settings WHERE name ="
                    " 'max_slot_wal_keep_size'")
        row = cur.fetchone()
        keep = int(row[0]) * (1 << 20) if row and int(row[0]) >= 0 else None
        cur.execute("SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn()"
                    " ELSE pg_current_wal_lsn() END::text")
        now = cur.fetchone()
        current = str(now[0]) if now and now[0] is not None else None
        cur.execute("SELECT active, active_pid, wal_status, safe_wal_size, restart_lsn::text"
                    " FROM pg_replication_slots WHERE slot_name = %s", (server.slot,))
        slot = cur.fetchone()
    if slot is None:
        return SlotState(server.slot, False, current_lsn=current, max_slot_wal_keep_size=keep)
    active, pid, status, safe, restart = slot
    retained = (parse_lsn(current) - parse_lsn(restart)) if current and restart else None
    return SlotState(server.slot, True, bool(active), pid, status,
                     int(safe) if safe is not None else None, restart, current, retained, keep)


def slot_condition(server: ServerPolicy, state: SlotState) -> tuple[str, str] | None:
    """(severity, message) when the slot needs attention, else None."""
    where = f"server {server.name}: replication slot {state.slot}"
    if not state.exists:
        return CRITICAL, (f"{where} does not exist: the server keeps no WAL for the streamer;"
                          f" `drctl wal stream {server.name}` creates it again (WAL written"
                          " meanwhile is not in the archive: take a base backup)")
    if state.wal_status in ("lost", "unreserved"):
        return CRITICAL, (f"{where} is {state.wal_status}: the server "
                          f"{'has removed' if state.wal_status == 'lost' else 'is about to remove'}"
                          " WAL the streamer has not received (max_slot_wal_keep_size); the "
                          "archive will have a gap: take a base backup once the streamer runs")
    retained = state.retained_bytes or 0
    if state.max_slot_wal_keep_size is not None:
        limit = server.slot_alert_fraction * state.max_slot_wal_keep_size
        of = (f"{server.slot_alert_fraction:.0%} of max_slot_wal_keep_size "
              f"({state.max_slot_wal_keep_size / GIB:.2f} GiB)")
    else:
        limit = server.slot_alert_gb * GIB
        of = f"slot_alert_gb ({server.slot_alert_gb:g} GiB; max_slot_wal_keep_size is unlimited)"
    if retained > limit:
        return WARNING, (f"{where} retains {retained / GIB:.2f} GiB of WAL, over {of}: is the "
                         "streamer running and keeping up? The server's disk fills while it "
                         "is not")
    return None


def watch_slot(catalog: Catalog, server: ServerPolicy, state: SlotState) -> tuple[str, str] | None:
    """Open the slot alert when its condition holds (a new one when the severity changed),
    resolve it when it cleared; returns the condition."""
    condition = slot_condition(server, state)
    app = alert_app(server.name)
    for row in catalog.open_alerts():
        if row.app == app and row.kind == SLOT_FILLING and (
                condition is None or row.severity != condition[0]):
            catalog.resolve_alert(row.id)
    if condition is not None:
        catalog.open_alert(app, SLOT_FILLING, condition[0], condition[1])
    return condition


def watch_servers(config: DRConfig, catalog: Catalog) -> list[str]:
    """Every protected server's slot read and its alert opened or resolved, from wherever
    this runs (the alert sensor: a slot fills precisely while its streamer is down). Returns
    the servers whose slot could not be read, in words."""
    problems: list[str] = []
    for server in config.servers.values():
        try:
            state = read_slot(server)
        except (DRError, psycopg2.Error) as exc:
            problems.append(f"server {server.name}: cannot read replication slot "
                            f"{server.slot}: {str(exc).strip()}")
            continue
        watch_slot(catalog, server, state)
        if state.exists and state.retained_bytes is not None:
            # The history the slot forecast fits (health/forecasts.py), a window long.
            catalog.record_slot_sample(server.name, datetime.now(UTC), state.retained_bytes,
                                       state.max_slot_wal_keep_size,
                                       timedelta(days=config.forecasts.window_days))
    return problems
