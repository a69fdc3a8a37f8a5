"""Building a GraphQL type from a catalog row or policy whose fields include the type's."""

from __future__ import annotations

from typing import Any, TypeVar

T = TypeVar("T")


def pick(cls: type[T], source: object) -> T:
    """`cls` with each of its fields taken from the attribute of the same name on `source`."""
    definition: Any = getattr(cls, "__strawberry_definition__")  # noqa: B009 (set by strawberry.type)
    return cls(**{f.python_name: getattr(source, f.python_name) for f in definition.fields})


class FromRow:
    """Mixin of GraphQL types whose every field is the row's field of the same name."""

    @classmethod
    def from_row(cls: type[T], row: object) -> T:
        return pick(cls, row)
