"""Scalars GraphQL lacks: 64-bit integers (byte counts) and free-form JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NewType, TypeAlias

import strawberry

if TYPE_CHECKING:  # what the values are, for the type checker
    BigInt: TypeAlias = int
    JSON: TypeAlias = Any
else:
    BigInt = strawberry.scalar(
        NewType("BigInt", int),
        serialize=int,
        parse_value=int,
        description="A 64-bit integer (byte counts), serialized as a JSON number.",
    )
    JSON = strawberry.scalar(
        NewType("JSON", object),
        serialize=lambda v: v,
        parse_value=lambda v: v,
        description="Free-form JSON (row counts per table).",
    )
