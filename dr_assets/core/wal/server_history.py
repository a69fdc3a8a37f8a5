"""The timeline history of a running server as its WAL senders tell it (IDENTIFY_SYSTEM and
TIMELINE_HISTORY over a replication connection, what pg_receivewal itself asks), and
whether a WAL file lies on it.

A server recovered to an earlier moment and promoted left its old timeline at the switch
point: the WAL files its predecessor wrote past that point on the old timeline are not on
its history, and pg_receivewal cannot resume after them ("requested starting point ... is
not in this server's history")."""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg2
import psycopg2.extras

from dr_assets.core.errors import WalError
from dr_assets.core.pg.conninfo import ConnInfo
from dr_assets.core.pg.wal_names import PARTIAL_SUFFIX, Segment, TimelineSwitch, parse_history


@dataclass(frozen=True)
class ServerHistory:
    timeline: int
    switches: list[TimelineSwitch] = field(default_factory=list)  # its ancestors', oldest first

    def holds(self, name: str, size: int) -> bool:
        """Whether the WAL in segment (or partial) NAME is all on the server's history: its
        timeline is the server's, or an ancestor's that the server left after the
        segment's end."""
        segment = Segment.parse(name.removesuffix(PARTIAL_SUFFIX), size)
        if segment.timeline == self.timeline:
            return True
        return any(s.timeline == segment.timeline and segment.end_lsn <= s.switch_lsn
                   for s in self.switches)


def read_server_history(info: ConnInfo) -> ServerHistory:
    """The server's current timeline and the switches that led to it."""
    try:
        conn = psycopg2.connect(**info.connect_kwargs(),
                                connection_factory=psycopg2.extras.PhysicalReplicationConnection)
    except psycopg2.Error as exc:
        raise WalError(f"{info.safe_url}: cannot open a replication connection to read the "
                       f"server's timeline: {str(exc).strip()}") from None
    try:
        with conn.cursor() as cur:
            cur.execute("IDENTIFY_SYSTEM")
            row = cur.fetchone()
            assert row is not None
            timeline = int(row[1])
            if timeline == 1:
                return ServerHistory(1)
            cur.execute(f"TIMELINE_HISTORY {timeline}")
            history = cur.fetchone()
            assert history is not None
    finally:
        conn.close()
    content = history[1]
    text = bytes(content).decode() if isinstance(content, (bytes, memoryview)) else str(content)
    return ServerHistory(timeline, parse_history(text))
