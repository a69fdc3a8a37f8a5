"""Catalog records of alert delivery: the outbox (a row per alert event, routed to a row
per channel) and every attempt to send one. Rows are claimed with SKIP LOCKED and a lease,
so two dispatchers (the sensor, a drctl run) never send the same row at once."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from dr_assets.core.catalog.connection import CatalogConnection
from dr_assets.core.catalog.rows import AlertRow, Row

LEASE = timedelta(minutes=5)  # longer than any send (timeouts are at most 120 s)


@dataclass(frozen=True)
class OutboxEntry:
    """One event of one alert, to one channel (None: not routed yet)."""

    id: int
    channel: str | None
    event: str
    attempts: int
    alert: AlertRow
    created_at: datetime | None = None  # when the event happened (the row was written)


@dataclass(frozen=True)
class DeliveryAttemptRow(Row):
    """A row of dr.delivery_attempts, with its outbox row's channel and event."""

    channel: str
    event: str
    at: datetime
    ok: bool
    status_code: int | None
    error: str | None
    duration_ms: float


def _entries(rows: Sequence[Mapping[str, Any]]) -> list[OutboxEntry]:
    out = []
    for r in rows:
        alert = AlertRow.from_record({k.removeprefix("a_"): v for k, v in r.items()
                                      if k.startswith("a_")})
        out.append(OutboxEntry(int(r["id"]), r["channel"], str(r["event"]), int(r["attempts"]),
                               alert, r["created_at"]))
    return out


_SELECT = ("SELECT o.id, o.channel, o.event, o.attempts, o.created_at, a.id AS a_id, a.app AS a_app,"
           " a.kind AS a_kind, a.severity AS a_severity, a.status AS a_status,"
           " a.message AS a_message, a.opened_at AS a_opened_at,"
           " a.resolved_at AS a_resolved_at, a.acknowledged_at AS a_acknowledged_at,"
           " a.acknowledged_by AS a_acknowledged_by, a.delivered_at AS a_delivered_at,"
           " a.delivery_error AS a_delivery_error"
           " FROM dr.alert_outbox o JOIN dr.alerts a ON a.id = o.alert_id")


class OutboxRecords(CatalogConnection):
    def route_outbox(self, channels_for: Callable[[AlertRow], list[str]], now: datetime) -> int:
        """Split every unrouted event into a row per channel `channels_for(alert)` names
        names, due at `now`; returns the rows made."""
        made = 0
        with self.cursor() as cur:
            cur.execute(f"{_SELECT} WHERE o.channel IS NULL ORDER BY o.id"
                        " FOR UPDATE OF o SKIP LOCKED")
            for entry in _entries(cur.fetchall()):
                names = channels_for(entry.alert)
                for name in names:
                    cur.execute("INSERT INTO dr.alert_outbox (alert_id, channel, event,"
                                " next_attempt_at) VALUES (%s, %s, %s, %s)",
                                (entry.alert.id, name, entry.event, now))
                    made += 1
                cur.execute("DELETE FROM dr.alert_outbox WHERE id = %s", (entry.id,))
        return made

    def claim_due(self, now: datetime, limit: int = 100) -> list[OutboxEntry]:
        """Routed rows due by `now`, leased to this caller."""
        with self.cursor() as cur:
            cur.execute(f"{_SELECT} WHERE o.channel IS NOT NULL AND o.delivered_at IS NULL"
                        " AND o.gave_up_at IS NULL AND o.next_attempt_at <= %s"
                        " ORDER BY o.next_attempt_at, o.id LIMIT %s FOR UPDATE OF o SKIP LOCKED",
                        (now, limit))
            entries = _entries(cur.fetchall())
            if entries:
                cur.execute("UPDATE dr.alert_outbox SET next_attempt_at = %s WHERE id = ANY(%s)",
                            (now + LEASE, [e.id for e in entries]))
        return entries

    def defer(self, ids: Sequence[int], until: datetime) -> None:
        """Rows a digest gathers: due again (and the lease given back) at `until`."""
        with self.cursor() as cur:
            cur.execute("UPDATE dr.alert_outbox SET next_attempt_at = %s WHERE id = ANY(%s)",
                        (until, list(ids)))

    def record_attempt(self, entry: OutboxEntry, at: datetime, ok: bool,
                       status_code: int | None, error: str | None, duration_ms: float,
                       retry_at: datetime | None) -> None:
        """The attempt, and the row's new state: delivered, due again at `retry_at`, or
        given up (not ok and no retry)."""
        with self.cursor() as cur:
            cur.execute("INSERT INTO dr.delivery_attempts (outbox_id, at, ok, status_code,"
                        " error, duration_ms) VALUES (%s, %s, %s, %s, %s, %s)",
                        (entry.id, at, ok, status_code, error, duration_ms))
            cur.execute(
                "UPDATE dr.alert_outbox SET attempts = attempts + 1, last_error = %s,"
                " delivered_at = CASE WHEN %s THEN %s END,"
                " gave_up_at = CASE WHEN NOT %s AND %s::timestamptz IS NULL THEN %s END,"
                " next_attempt_at = coalesce(%s, next_attempt_at) WHERE id = %s",
                (error, ok, at, ok, retry_at, at, retry_at, entry.id))
            if entry.event == "opened":
                cur.execute(
                    "UPDATE dr.alerts SET delivered_at = CASE WHEN %s THEN coalesce("
                    "delivered_at, %s) ELSE delivered_at END,"
                    " delivery_error = CASE WHEN %s THEN NULL ELSE %s END WHERE id = %s",
                    (ok, at, ok, f"{entry.channel}: {error}", entry.alert.id))

    def recent_results(self, channel: str, n: int) -> list[bool]:
        """The channel's last `n` attempts, newest first."""
        with self.cursor() as cur:
            cur.execute("SELECT d.ok FROM dr.delivery_attempts d JOIN dr.alert_outbox o"
                        " ON o.id = d.outbox_id WHERE o.channel = %s"
                        " ORDER BY d.at DESC, d.id DESC LIMIT %s", (channel, n))
            return [bool(r["ok"]) for r in cur.fetchall()]

    def alert_deliveries(self, alert_id: int) -> list[DeliveryAttemptRow]:
        """Every attempt to deliver an alert, oldest first."""
        with self.cursor() as cur:
            cur.execute("SELECT o.channel, o.event, d.at, d.ok, d.status_code, d.error,"
                        " d.duration_ms FROM dr.delivery_attempts d JOIN dr.alert_outbox o"
                        " ON o.id = d.outbox_id WHERE o.alert_id = %s ORDER BY d.at, d.id",
                        (alert_id,))
            return [DeliveryAttemptRow.from_record(r) for r in cur.fetchall()]
