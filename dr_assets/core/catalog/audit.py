"""Catalog records of the audit log (append-only; the table's trigger refuses changes)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from dr_assets.core.access.audit_args import (
    MAX_DETAIL,
    MAX_NAME,
    bounded_arguments,
    storable_text,
)
from dr_assets.core.access.audit_chain import (
    GENESIS,
    AuditEntry,
    ChainReport,
    entry_hash,
    scrub,
    verify_chain,
)
from dr_assets.core.catalog.connection import CatalogConnection, lock_key
from dr_assets.core.catalog.rows import AuditRow


def append_audit(cur: Any, actor: str, role: str, action: str, arguments: dict[str, Any],
                 result: str, detail: str | None = None) -> int:
    """Append one entry in `cur`'s transaction (so it is written if and only if what it
    records is); a transaction lock keeps the chain linear under concurrency."""
    cur.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key("dr-audit-chain"),))
    cur.execute("SELECT hash FROM dr.audit_log ORDER BY id DESC LIMIT 1")
    last = cur.fetchone()
    prev = last["hash"] if last else GENESIS
    at = datetime.now(UTC)
    # Round-trip through JSON so the hash covers exactly what jsonb gives back.
    args = json.loads(json.dumps(bounded_arguments(scrub(arguments))))
    actor, role, action = (storable_text(text, MAX_NAME) for text in (actor, role, action))
    detail = None if detail is None else storable_text(detail, MAX_DETAIL)
    entry = AuditEntry(at, actor, role, action, args, result, detail)
    digest = entry_hash(entry, prev)
    cur.execute(
        "INSERT INTO dr.audit_log (at, actor, role, action, arguments, result, detail,"
        " prev_hash, hash) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (at, actor, role, action, json.dumps(args), result, detail, prev, digest),
    )
    row = cur.fetchone()
    assert row is not None
    return int(row["id"])


class AuditRecords(CatalogConnection):
    def audit(self, actor: str, role: str, action: str, arguments: dict[str, Any], result: str,
              detail: str | None = None) -> int:
        """Append one entry, in a transaction of its own."""
        with self.cursor() as cur:
            return append_audit(cur, actor, role, action, arguments, result, detail)

    def audit_page(self, first: int = 50, before_id: int | None = None,
                   action: str | None = None) -> list[AuditRow]:
        return self.fetch(
            AuditRow,
            "SELECT * FROM dr.audit_log WHERE (%s::bigint IS NULL OR id < %s)"
            " AND (%s::text IS NULL OR action = %s) ORDER BY id DESC LIMIT %s",
            (before_id, before_id, action, action, first),
        )

    def _audit_rows(self) -> Iterator[dict[str, Any]]:
        with self.cursor() as cur:
            cur.execute("SELECT * FROM dr.audit_log ORDER BY id")
            for row in cur:
                yield dict(row)

    def verify_audit_chain(self) -> ChainReport:
        return verify_chain(self._audit_rows())
