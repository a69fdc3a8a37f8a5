"""What an audit row keeps of a request's arguments: bounded, and storable as written.

An audit row must be written whatever a caller sends, and must not let one request grow
the append-only log without bound. So before an entry is hashed and stored:

- every NUL (which neither PostgreSQL text nor jsonb can hold, so the insert would fail
  and no row be written) is escaped as the six characters `\\u0000`;
- a string is kept up to MAX_STRING characters, a list or object up to MAX_ITEMS entries,
  nesting up to MAX_DEPTH levels; what is cut is said where it was cut;
- when anything was cut, `_digest` is the SHA-256 of the whole arguments (canonical JSON,
  secrets already redacted) and `_bytes` their size, so a copy of the request can still be
  matched against the row.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

MAX_STRING = 512
MAX_ITEMS = 50
MAX_DEPTH = 6
MAX_KEY = 64
MAX_DETAIL = 2048
MAX_NAME = 256  # actor, role, action
NUL_ESCAPE = "\\u0000"


def storable_text(text: str, limit: int = MAX_STRING) -> str:
    """`text` with NULs escaped and cut at `limit` characters (saying how many were cut)."""
    text = text.replace("\x00", NUL_ESCAPE)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}…[{len(text) - limit} more characters]"


def bounded_arguments(arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments as an audit row keeps them (see the module's docstring)."""
    whole = json.dumps(arguments, sort_keys=True, separators=(",", ":"), default=str)
    cut: list[bool] = []
    kept = _bounded(json.loads(whole), 0, cut)
    assert isinstance(kept, dict)
    if cut:
        kept["_digest"] = "sha256:" + hashlib.sha256(whole.encode()).hexdigest()
        kept["_bytes"] = len(whole.encode())
    return kept


def _bounded(value: Any, depth: int, cut: list[bool]) -> Any:
    if isinstance(value, str):
        kept = storable_text(value)
        if len(kept) != len(value.replace("\x00", NUL_ESCAPE)):
            cut.append(True)
        return kept
    if isinstance(value, dict | list) and depth >= MAX_DEPTH:
        cut.append(True)
        return f"[{type(value).__name__} nested deeper than {MAX_DEPTH} levels]"
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for i, (key, item) in enumerate(value.items()):
            if i == MAX_ITEMS:
                cut.append(True)
                out["_more_keys"] = len(value) - MAX_ITEMS
                break
            if len(key) > MAX_KEY:
                cut.append(True)
            out[storable_text(key, MAX_KEY)] = _bounded(item, depth + 1, cut)
        return out
    if isinstance(value, list):
        items = [_bounded(item, depth + 1, cut) for item in value[:MAX_ITEMS]]
        if len(value) > MAX_ITEMS:
            cut.append(True)
            items.append(f"[{len(value) - MAX_ITEMS} more items]")
        return items
    return value
