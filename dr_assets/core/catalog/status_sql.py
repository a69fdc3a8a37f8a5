"""Status words as SQL literals, built once from core.statuses: queries keep constants in
their text, so their plans and partial-index predicates (status <> 'deleted') still match."""

from __future__ import annotations

from dr_assets.core.statuses import ONCE_VALID_STATUSES, VALID_STATUSES


def sql_words(*words: str) -> str:
    """A parenthesised list of quoted words, for `status IN ...`."""
    return "(" + ",".join(f"'{w}'" for w in words) + ")"


VALID = sql_words(*VALID_STATUSES)  # ('completed','degraded')
ONCE_VALID = sql_words(*ONCE_VALID_STATUSES)  # ('completed','degraded','deleted')
