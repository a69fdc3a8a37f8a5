"""The schema fingerprint a manifest records: one digest over every user object's
definition, and a short digest per object so that a comparison can name what differs
(missing, extra, changed). Pure data and comparison; reading a database is core/pg's.

The per-object map is kept whole in the manifest: a restore compares against the stored
copy alone, and naming the objects that differ is the point. A digest is 16 hex digits
(64 bits) of SHA-256, about 60 bytes an object in JSON; the overall digest is the SHA-256
of the sorted map, so the map alone proves it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dr_assets.core.errors import IntegrityError

# Bumped whenever what is read or how it is written changes: fingerprints of two schemes
# are not compared.
SCHEME = 1
OBJECT_DIGEST_CHARS = 16
NAMED_DIFFERENCES = 10
# Kinds whose identity is <schema>.<table>.<name>: they belong to a table.
TABLE_PARTS = frozenset({"column", "constraint", "index", "trigger", "policy", "rule"})


def object_digest(definition: str) -> str:
    return hashlib.sha256(definition.encode()).hexdigest()[:OBJECT_DIGEST_CHARS]


def overall_digest(objects: Mapping[str, str]) -> str:
    body = "".join(f"{identity}\t{objects[identity]}\n" for identity in sorted(objects))
    return hashlib.sha256(body.encode()).hexdigest()


@dataclass(frozen=True)
class SchemaFingerprint:
    digest: str
    objects: dict[str, str]  # identity -> object_digest(definition)
    server_major: int
    scheme: int = SCHEME

    @classmethod
    def of(cls, definitions: Mapping[str, str], server_major: int) -> SchemaFingerprint:
        objects = {identity: object_digest(text) for identity, text in sorted(definitions.items())}
        return cls(digest=overall_digest(objects), objects=objects, server_major=server_major)

    def to_dict(self) -> dict[str, Any]:
        return {"scheme": self.scheme, "server_major": self.server_major, "digest": self.digest,
                "objects": self.objects}

    @classmethod
    def from_dict(cls, body: Any, where: str = "manifest") -> SchemaFingerprint:
        try:
            found = cls(digest=str(body["digest"]),
                        objects={str(k): str(v) for k, v in body["objects"].items()},
                        server_major=int(body["server_major"]), scheme=int(body["scheme"]))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise IntegrityError(f"{where}: schema_fingerprint is malformed ({exc})") from None
        if overall_digest(found.objects) != found.digest:
            raise IntegrityError(f"{where}: schema_fingerprint's objects do not add up to its "
                                 "digest: the manifest was altered")
        return found


def split_identity(identity: str) -> tuple[str, list[str]]:
    """`column "Odd ""Names"".x.y` -> ("column", ['Odd "Names"', "x", "y"]): the kind and
    the dotted name's parts, unquoted; a function's argument list is not a part."""
    kind, _, name = identity.partition(" ")
    parts: list[str] = []
    at, current = 0, ""
    while at < len(name):
        ch = name[at]
        if ch == '"':
            end = at + 1
            while True:
                end = name.index('"', end)
                if name.startswith('""', end):
                    end += 2
                    continue
                break
            current += name[at + 1:end].replace('""', '"')
            at = end + 1
        elif ch == ".":
            parts.append(current)
            current, at = "", at + 1
        elif ch == "(":
            break
        else:
            current += ch
            at += 1
    parts.append(current)
    return kind, parts


@dataclass(frozen=True)
class FingerprintScope:
    """The objects a granular restore brings: whole schemas, and tables with what belongs
    to them (columns, constraints, indexes, triggers, policies, rules)."""

    schemas: frozenset[str] = frozenset()
    tables: frozenset[tuple[str, str]] = frozenset()

    @classmethod
    def of(cls, schemas: Iterable[str] = (), tables: Iterable[str] = ()) -> FingerprintScope:
        """tables as "schema.table" (unquoted, as --table takes them)."""
        pairs = set()
        for name in tables:
            schema, _, table = name.partition(".")
            pairs.add((schema, table))
        return cls(schemas=frozenset(schemas), tables=frozenset(pairs))

    def covers(self, identity: str) -> bool:
        kind, parts = split_identity(identity)
        if kind == "schema":
            return parts[0] in self.schemas
        if kind in ("extension", "event_trigger"):
            return False
        if parts[0] in self.schemas:
            return True
        return len(parts) >= 2 and (parts[0], parts[1]) in self.tables and (
            kind in TABLE_PARTS or len(parts) == 2)


@dataclass(frozen=True)
class SchemaDiff:
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)

    @property
    def same(self) -> bool:
        return not (self.missing or self.extra or self.changed)

    def describe(self, limit: int = NAMED_DIFFERENCES) -> str:
        """Up to `limit` differing objects, named, and how many more there are."""
        named = ([f"{i}: missing" for i in self.missing] + [f"{i}: extra" for i in self.extra]
                 + [f"{i}: changed" for i in self.changed])
        more = len(named) - limit
        return "; ".join(named[:limit]) + (f"; and {more} more" if more > 0 else "")


def compare(expected: SchemaFingerprint, actual: SchemaFingerprint,
            scope: FingerprintScope | None = None) -> SchemaDiff:
    """What `actual` (a restored database) lacks, adds or defines otherwise than `expected`
    (the backup's). With a scope, only objects inside it are compared, on both sides."""
    if scope is None and expected.digest == actual.digest:
        return SchemaDiff()
    want, got = expected.objects, actual.objects
    if scope is not None:
        want = {i: d for i, d in want.items() if scope.covers(i)}
        got = {i: d for i, d in got.items() if scope.covers(i)}
    return SchemaDiff(
        missing=sorted(set(want) - set(got)),
        extra=sorted(set(got) - set(want)),
        changed=sorted(i for i in set(want) & set(got) if want[i] != got[i]),
    )


def comparable(expected: SchemaFingerprint, actual: SchemaFingerprint) -> str | None:
    """Why two fingerprints cannot be compared (None when they can): the catalogs' text
    is stable within one major version and one fingerprint scheme only."""
    if expected.scheme != actual.scheme:
        return (f"the backup's fingerprint is of scheme {expected.scheme}, this drctl reads "
                f"scheme {actual.scheme}")
    if expected.server_major != actual.server_major:
        return (f"the backup was taken on PostgreSQL {expected.server_major}, the restore "
                f"runs on {actual.server_major}")
    return None
