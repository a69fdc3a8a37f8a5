"""Small, escaping HTML builders and value formats shared by the HTML report."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any


class Raw(str):
    """Markup that is already safe (built by these helpers): not escaped again."""


def text(value: Any) -> str:
    if isinstance(value, Raw):
        return value
    if value is None:
        return "&#8212;"
    if isinstance(value, datetime):
        return escape(when(value))
    return escape(str(value))


def when(at: datetime | None) -> str:
    return "" if at is None else at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.2f} h"


def hours(h: float) -> str:
    return f"{h:g} h"


def badge(label: str, good: bool | None) -> Raw:
    kind = "na" if good is None else ("ok" if good else "bad")
    return Raw(f'<span class="badge {kind}">{escape(label)}</span>')


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], empty: str,
          css: str = "") -> Raw:
    body = ["<tr>" + "".join(f"<td>{text(c)}</td>" for c in row) + "</tr>" for row in rows]
    if not body:
        return Raw(f'<p class="none">{escape(empty)}</p>')
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    cls = f' class="{css}"' if css else ""
    return Raw(f"<table{cls}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")
