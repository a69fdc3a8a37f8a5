"""Scalars GraphQL lacks: 64-bit integers (byte counts) and free-form JSON."""

from __future__ import annotations

from typing import Any, NewType

import strawberry

BigInt = strawberry.scalar(
    NewType("BigInt", int),
    serialize=lambda v: int(v),
    parse_value=lambda v: int(v),
    description="A 64-bit integer (byte counts), serialized as a JSON number.",
)

JSON = strawberry.scalar(
    NewType("JSON", object),
    serialize=lambda v: v,
    parse_value=lambda v: v,
    description="Free-form JSON (row counts per table).",
)


def as_json(value: Any) -> Any:
    return value
