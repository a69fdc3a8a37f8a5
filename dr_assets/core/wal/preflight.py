"""Before a server's WAL is streamed: can it be? The URL's role may replicate, the server
writes enough WAL (wal_level replica or logical) and has WAL senders to spare, and the
replication slot is ours: a physical slot, free or held by a pg_receivewal of ours. A
missing slot is created (reserving WAL at once); when any check fails nothing is changed
and the error says what to fix."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg2
import psycopg2.extras

from dr_assets.core.errors import WalError
from dr_assets.core.pg.conninfo import ConnInfo
from dr_assets.core.pg.sessions import connection
from dr_assets.core.policy import ServerPolicy

# The application_name our pg_receivewal connects with: a slot held by it is ours.
APPLICATION_PREFIX = "dr-wal-"


def application_name(server: str) -> str:
    return f"{APPLICATION_PREFIX}{server}"[:63]


@dataclass(frozen=True)
class Preflight:
    server: str
    slot: str
    slot_created: bool
    wal_level: str
    server_major: int
    held_by_us: int | None = None  # pid of a walsender of an earlier pg_receivewal of ours


def _one(cur: psycopg2.extensions.cursor, sql: str,
         args: tuple[object, ...] = ()) -> tuple[object, ...] | None:
    cur.execute(sql, args)
    row: tuple[object, ...] | None = cur.fetchone()
    return row


def check_server(server: ServerPolicy, info: ConnInfo | None = None) -> Preflight:
    """Check SERVER can be streamed from and make sure its slot exists (WalError if not)."""
    info = info or server.conninfo
    where = f"server {server.name!r} ({info.safe_url})"
    with connection(info) as conn, conn.cursor() as cur:
        major = int(conn.server_version) // 10000
        role = _one(cur, "SELECT rolname, rolreplication, rolsuper FROM pg_roles"
                    " WHERE rolname = current_user")
        if role is None or not (role[1] or role[2]):
            name = role[0] if role else info.user
            raise WalError(f"{where}: role {name!r} may not replicate (it has neither REPLICATION"
                           f" nor SUPERUSER): run  ALTER ROLE {name} REPLICATION;  as a superuser"
                           " (and allow it a replication line in pg_hba.conf), or use another"
                           " role in [servers." + server.name + "] url")
        level = str((_one(cur, "SELECT current_setting('wal_level')") or ("",))[0])
        if level not in ("replica", "logical"):
            raise WalError(f"{where}: wal_level is {level!r}, which writes too little WAL to "
                           "recover from: set wal_level = replica (and max_wal_senders > 0) in "
                           "postgresql.conf and restart the server")
        senders = int(str((_one(cur, "SELECT current_setting('max_wal_senders')") or (0,))[0]))
        if senders <= 0:
            raise WalError(f"{where}: max_wal_senders is 0, so no WAL can be streamed: set "
                           "max_wal_senders = 10 in postgresql.conf and restart the server")
        _replication_allowed(info, where)
        slot = _one(cur, "SELECT slot_type, active, active_pid, database FROM"
                    " pg_replication_slots WHERE slot_name = %s", (server.slot,))
        if slot is not None:
            return _existing_slot(cur, server, where, slot, level, major)
        try:
            cur.execute("SELECT pg_create_physical_replication_slot(%s, true)", (server.slot,))
        except psycopg2.Error as exc:
            first = (exc.pgerror or str(exc)).strip().splitlines()[0]
            raise WalError(f"{where}: cannot create replication slot {server.slot!r}: {first}"
                           ) from None
        return Preflight(server.name, server.slot, True, level, major)


def _existing_slot(cur: psycopg2.extensions.cursor, server: ServerPolicy, where: str,
                   slot: tuple[object, ...], level: str, major: int) -> Preflight:
    slot_type, active, pid, database = slot
    if slot_type != "physical":
        raise WalError(f"{where}: replication slot {server.slot!r} exists but is a {slot_type} "
                       f"slot (of database {database}), not a physical one: it belongs to "
                       "something else; give this server another slot = in dr.toml")
    if not active:
        return Preflight(server.name, server.slot, False, level, major)
    row = _one(cur, "SELECT application_name, client_addr::text FROM pg_stat_replication"
               " WHERE pid = %s", (pid,))
    app = str(row[0]) if row and row[0] is not None else ""
    if app == application_name(server.name):
        return Preflight(server.name, server.slot, False, level, major, held_by_us=int(str(pid)))
    client = f", from {row[1]}" if row and row[1] else ""
    raise WalError(f"{where}: replication slot {server.slot!r} is in use by pid {pid} "
                   f"(application_name {app or '(none)'!r}{client}): another client streams "
                   "through it; stop that client or give this server another slot = in dr.toml")


def _replication_allowed(info: ConnInfo, where: str) -> None:
    """A replication connection opens (pg_hba.conf has a `replication` line for us)."""
    try:
        conn = psycopg2.connect(**info.connect_kwargs(),
                                connection_factory=psycopg2.extras.PhysicalReplicationConnection)
    except psycopg2.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "refused"
        raise WalError(f"{where}: the server refuses replication connections ({first}): add a "
                       f"line such as  host replication {info.user} <client address>/32 "
                       "scram-sha-256  to pg_hba.conf and reload the server") from None
    conn.close()
