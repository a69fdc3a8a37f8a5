"""Catalog records of the launch tickets runs were launched with: each ticket's nonce once,
with the run that used it (core/access/tickets.py verifies the rest)."""

from __future__ import annotations

import json

from dr_assets.core.access.audit_args import bounded_arguments, storable_text
from dr_assets.core.access.tickets import Ticket
from dr_assets.core.catalog.connection import CatalogConnection

USE = (
    "INSERT INTO dr.launch_tickets (nonce, run_id, action, who, role, args, key_id,"
    " issued_at, expires_at)"
    " VALUES (%(nonce)s, %(run_id)s, %(action)s, %(who)s, %(role)s, %(args)s, %(key_id)s,"
    " %(issued_at)s, %(expires_at)s)"
    " ON CONFLICT (nonce) DO NOTHING"
)
USED_BY = "SELECT run_id FROM dr.launch_tickets WHERE nonce = %(nonce)s"


class TicketRecords(CatalogConnection):
    def use_ticket(self, ticket: Ticket, run_id: str) -> str | None:
        """Record that RUN_ID was launched with TICKET; the id of another run that used it
        first, or None (this run holds it, now or from an earlier attempt of its own)."""
        with self.cursor() as cur:
            cur.execute(USE, {"nonce": ticket.nonce, "run_id": run_id, "action": ticket.action,
                              "who": storable_text(ticket.who), "role": storable_text(ticket.role),
                              "args": json.dumps(bounded_arguments(dict(ticket.args))),
                              "key_id": ticket.key_id, "issued_at": ticket.issued_at,
                              "expires_at": ticket.expires_at})
            cur.execute(USED_BY, {"nonce": ticket.nonce})
            row = cur.fetchone()
        used_by = str(row["run_id"]) if row else run_id
        return None if used_by == run_id else used_by
