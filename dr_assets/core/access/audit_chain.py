"""The audit chain: each entry's hash covers its fields and the previous entry's hash,
so editing, deleting or reordering any row breaks every hash after it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

GENESIS = "0" * 64
SECRET_WORDS = ("password", "secret", "token", "key", "credential")


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    actor: str
    role: str
    action: str
    arguments: Mapping[str, Any]
    result: str
    detail: str | None


def scrub(arguments: Mapping[str, Any]) -> dict[str, Any]:
    """Arguments without secrets: any key that names one is replaced by a marker."""
    out: dict[str, Any] = {}
    for k, v in arguments.items():
        if any(word in k.lower() for word in SECRET_WORDS) and not k.lower().endswith("id"):
            out[k] = "[redacted]"
        elif isinstance(v, Mapping):
            out[k] = scrub(v)
        else:
            out[k] = v
    return out


def entry_hash(entry: AuditEntry, prev_hash: str) -> str:
    body = json.dumps({
        "prev": prev_hash,
        "at": entry.at.isoformat(timespec="microseconds"),
        "actor": entry.actor,
        "role": entry.role,
        "action": entry.action,
        "arguments": entry.arguments,
        "result": entry.result,
        "detail": entry.detail,
    }, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(body.encode()).hexdigest()


@dataclass(frozen=True)
class ChainReport:
    rows: int
    ok: bool
    first_bad_id: int | None = None
    problem: str | None = None


def verify_chain(rows: Iterable[Mapping[str, Any]]) -> ChainReport:
    """Rows in id order, each with the fields of AuditEntry plus id, prev_hash and hash."""
    prev = GENESIS
    count = 0
    for row in rows:
        count += 1
        if row["prev_hash"] != prev:
            return ChainReport(count, False, row["id"],
                               f"entry {row['id']} does not follow the entry before it "
                               "(a row was deleted, inserted or reordered)")
        entry = AuditEntry(row["at"], row["actor"], row["role"], row["action"],
                           row["arguments"], row["result"], row["detail"])
        if entry_hash(entry, prev) != row["hash"]:
            return ChainReport(count, False, row["id"],
                               f"entry {row['id']} was altered after it was written")
        prev = row["hash"]
    return ChainReport(count, True)
