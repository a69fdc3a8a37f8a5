"""Granular restores: which tables and schemas were asked for (strictly checked names), and
which of the archive's entries restore them with what they need, in archive order.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from dr_assets.core.errors import InvalidName, RestoreError
from dr_assets.core.restore.toc import ArchiveToc, TocEntry

MAX_NAMES = 1000
NAME_BYTES = 63  # PostgreSQL's identifier limit (NAMEDATALEN - 1)
_PLAIN = r"[A-Za-z_][A-Za-z0-9_$]*"
_QUOTED = r'"(?:[^"\x00-\x1f\x7f]|"")+"'
_IDENT = rf"(?:{_PLAIN}|{_QUOTED})"
_TABLE = re.compile(rf"({_IDENT})\.({_IDENT})")
_SCHEMA = re.compile(_IDENT)
_LOWER_PLAIN = re.compile(r"[a-z_][a-z0-9_$]*")

NOT_IN_PLACE = ("a restore of single tables or schemas goes into a new database only "
                "(--target-db NAME / mode NEW_DATABASE): in place it would swap the whole "
                "database for one holding only the selection; restore it beside the live one "
                "and copy the rows across")

# Kinds of entries by how a granular restore treats them. Relations are restored only when
# selected (a table, the partitions of a selected partitioned table, anything in a selected
# schema); what restored objects need is brought along; entries that belong to objects
# (indexes, constraints, triggers, data ...) come with them when all they need is restored.
RELATIONS = frozenset({"TABLE", "VIEW", "MATERIALIZED VIEW", "FOREIGN TABLE"})
NEEDED = frozenset({
    "SCHEMA", "TYPE", "DOMAIN", "SHELL TYPE", "FUNCTION", "PROCEDURE", "AGGREGATE", "SEQUENCE",
    "COLLATION", "EXTENSION", "OPERATOR", "OPERATOR CLASS", "OPERATOR FAMILY", "CONVERSION",
    "CAST", "TRANSFORM", "ACCESS METHOD", "PROCEDURAL LANGUAGE", "TEXT SEARCH PARSER",
    "TEXT SEARCH DICTIONARY", "TEXT SEARCH TEMPLATE", "TEXT SEARCH CONFIGURATION",
    "FOREIGN DATA WRAPPER", "SERVER",
})
ATTACHED = frozenset({
    "INDEX", "CONSTRAINT", "CHECK CONSTRAINT", "FK CONSTRAINT", "TRIGGER", "RULE", "POLICY",
    "ROW SECURITY", "DEFAULT", "COMMENT", "ACL", "SECURITY LABEL", "SEQUENCE OWNED BY",
    "STATISTICS", "INDEX ATTACH", "TABLE ATTACH", "DEFAULT ACL", "PUBLICATION TABLE",
})
# Tagged "TABLE NAME": they belong to the table their tag starts with, among those they need.
OF_A_TABLE = frozenset({"CONSTRAINT", "CHECK CONSTRAINT", "FK CONSTRAINT", "TRIGGER", "RULE",
                        "POLICY", "DEFAULT"})
SESSION_SETTINGS = frozenset({"ENCODING", "STDSTRINGS", "SEARCHPATH"})
LARGE_OBJECTS = frozenset({"BLOB", "BLOBS", "BLOB METADATA", "LARGE OBJECT"})


def _identifier(token: str, text: str) -> str:
    """As SQL reads it: a plain name folds to lower case, a double-quoted one is exact."""
    name = token[1:-1].replace('""', '"') if token.startswith('"') else token.lower()
    if len(name.encode()) > NAME_BYTES:
        raise InvalidName(f"{text!r}: {name!r} is longer than PostgreSQL's {NAME_BYTES}-byte "
                          "identifiers")
    return name


def parse_table_name(text: str) -> tuple[str, str]:
    """SCHEMA.TABLE, each part a plain identifier or a double-quoted one. Raises InvalidName."""
    m = _TABLE.fullmatch(text)
    if m is None:
        raise InvalidName(
            f"{text!r} is not a table name: give SCHEMA.TABLE, each part letters, digits, _ "
            'and $ (folded to lower case) or a double-quoted name ("Odd ""Name"")')
    return _identifier(m.group(1), text), _identifier(m.group(2), text)


def parse_schema_name(text: str) -> str:
    if _SCHEMA.fullmatch(text) is None:
        raise InvalidName(
            f"{text!r} is not a schema name: letters, digits, _ and $ (folded to lower case), "
            'or a double-quoted name ("Odd ""Name"")')
    return _identifier(text, text)


def quote_name(name: str) -> str:
    """How to name `name` to --table or --schema: plain when SQL would read it back as is."""
    return name if _LOWER_PLAIN.fullmatch(name) else '"' + name.replace('"', '""') + '"'


def table_selector(schema: str, table: str) -> str:
    """How to name a table to --table: SCHEMA.TABLE, each part quoted where needed."""
    return f"{quote_name(schema)}.{quote_name(table)}"


def _unique(items: Iterable[Any]) -> tuple[Any, ...]:
    return tuple(dict.fromkeys(items))


@dataclass(frozen=True)
class Selection:
    """What a granular restore brings back, by the names the archive has."""

    tables: tuple[tuple[str, str], ...] = ()
    schemas: tuple[str, ...] = ()

    @classmethod
    def of(cls, tables: Sequence[str] | None = None, schemas: Sequence[str] | None = None
           ) -> Selection | None:
        """The selection that names given on the command line or in a request ask for; None
        when they name nothing (the whole database). Raises InvalidName."""
        tables, schemas = list(tables or ()), list(schemas or ())
        if len(tables) + len(schemas) > MAX_NAMES:
            raise InvalidName(f"at most {MAX_NAMES} tables and schemas may be selected: "
                              "restore the whole database instead")
        if not tables and not schemas:
            return None
        return cls(_unique(parse_table_name(t) for t in tables),
                   _unique(parse_schema_name(s) for s in schemas))

    def to_dict(self) -> dict[str, list[str]]:
        return {"tables": [table_selector(s, t) for s, t in self.tables],
                "schemas": [quote_name(s) for s in self.schemas]}


@dataclass(frozen=True)
class LeftOut:
    entry: str
    why: str


@dataclass(frozen=True)
class SelectionPlan:
    """The archive's entries a granular restore loads, in archive order (a streamed archive
    can only be read forwards), the tables it restores with their rows (as the manifest's
    row counts name them), and what it leaves out that touches them, with why."""

    selection: Selection
    kept: tuple[TocEntry, ...]
    tables: tuple[str, ...]
    left_out: tuple[LeftOut, ...]

    def list_file(self) -> str:
        """A pg_restore --use-list file: the kept entries' lines, as --list printed them."""
        return "".join(e.line + "\n" for e in self.kept)

    def expected_counts(self, row_counts: dict[str, int]) -> dict[str, int]:
        return {t: row_counts[t] for t in self.tables if t in row_counts}

    def to_dict(self) -> dict[str, Any]:
        return {**self.selection.to_dict(), "restored_tables": list(self.tables),
                "left_out": [{"entry": o.entry, "why": o.why} for o in self.left_out]}


class _Planner:
    def __init__(self, toc: ArchiveToc) -> None:
        self.entries = toc.entries
        self.by_id = toc.by_id()
        self.deps = {e.dump_id: tuple(dict.fromkeys(d for d in e.depends_on if d in self.by_id))
                     for e in self.entries}
        self.tables = {(e.schema, e.name): e for e in self.entries
                       if e.kind == "TABLE" and e.schema is not None}
        self.partitions: dict[int, list[int]] = {}
        for attach in (e for e in self.entries if e.kind == "TABLE ATTACH"):
            related = [self.by_id[d] for d in self.deps[attach.dump_id]]
            child = [r for r in related if r.kind in RELATIONS
                     and (r.schema, r.name) == (attach.schema, attach.name)]
            for parent in (r for r in related if r.kind in RELATIONS and r not in child):
                self.partitions.setdefault(parent.dump_id, []).extend(c.dump_id for c in child)
        self.roots: set[int] = set()
        self._blockers: dict[int, TocEntry | None] = {}

    def family(self, dump_id: int) -> set[int]:
        """A table and, when it is partitioned, all its partitions: where its rows are."""
        found = {dump_id}
        for child in self.partitions.get(dump_id, []):
            found |= self.family(child)
        return found

    def blocker(self, dump_id: int) -> TocEntry | None:
        """What the entry cannot be restored without that the selection leaves out."""
        if dump_id in self._blockers:
            return self._blockers[dump_id]
        self._blockers[dump_id] = None  # a dependency loop needs nothing outside itself
        found = None
        for d in self.deps[dump_id]:
            dep = self.by_id[d]
            if d not in self.roots and (dep.kind in RELATIONS or not self.bringable(dep)):
                found = dep
            else:
                found = self.blocker(d)
            if found is not None:
                break
        self._blockers[dump_id] = found
        return found

    def bringable(self, entry: TocEntry) -> bool:
        return entry.kind in NEEDED or self.attached(entry)

    def attached(self, entry: TocEntry) -> bool:
        return (entry.kind in ATTACHED or (entry.data and bool(self.deps[entry.dump_id]))
                or (entry.kind == "SEQUENCE" and any(  # an identity or serial column's
                    self.by_id[d].kind in RELATIONS for d in self.deps[entry.dump_id])))

    def owners(self, entry: TocEntry) -> list[int]:
        """What an attached entry belongs to: the table its tag names for those tagged with
        one, else what it depends on other than what is brought along anyway."""
        deps = [self.by_id[d] for d in self.deps[entry.dump_id]]
        if entry.kind in OF_A_TABLE:
            tables = [t for t in deps if t.kind in RELATIONS and t.schema == entry.schema
                      and entry.name.startswith(t.name + " ")]
            if tables:
                return [max(tables, key=lambda t: len(t.name)).dump_id]
        own = [d.dump_id for d in deps if d.kind not in NEEDED]
        return own or [d.dump_id for d in deps]


def _closest(wanted: str, known: Iterable[str]) -> str:
    near = difflib.get_close_matches(wanted, list(known), n=3)
    return f" (did you mean {', '.join(near)}?)" if near else ""


def _resolve(planner: _Planner, selection: Selection, backup_id: str) -> list[set[int]]:
    """The entries each selected table and schema starts from; unknown names refused."""
    schemas = {e.schema for e in planner.entries if e.schema is not None} | {
        e.name for e in planner.entries if e.kind == "SCHEMA"}
    named = [table_selector(s, t) for s, t in planner.tables]
    unknown = [f"table {table_selector(s, t)}" + _closest(table_selector(s, t), named)
               for s, t in selection.tables if (s, t) not in planner.tables]
    unknown += [f"schema {quote_name(s)}" + _closest(quote_name(s), map(quote_name, schemas))
                for s in selection.schemas if s not in schemas]
    if unknown:
        raise RestoreError(f"backup {backup_id} has no {'; no '.join(unknown)}: "
                           f"`drctl contents {backup_id}` lists what it holds")
    starts = [planner.family(planner.tables[t].dump_id) for t in selection.tables]
    for schema in selection.schemas:
        found: set[int] = set()
        for e in planner.entries:
            if e.kind == "SCHEMA" and e.schema is None and e.name == schema:
                found.add(e.dump_id)
            elif e.schema == schema and not planner.attached(e):
                found |= planner.family(e.dump_id) if e.kind == "TABLE" else {e.dump_id}
        starts.append(found)
    return starts


def _cannot(table: TocEntry, needed: TocEntry) -> str:
    if needed.kind == "TABLE":
        return (f"{table.qualified} cannot be restored without {needed.describe()}, which it "
                f"depends on (a partition of it, or inheriting from it): select "
                f"{table_selector(needed.schema or '', needed.name)} too")
    return (f"{table.qualified} cannot be restored without {needed.describe()}, which a "
            "granular restore leaves out")


def plan_selection(toc: ArchiveToc, selection: Selection, backup_id: str) -> SelectionPlan:
    """Which entries restore `selection`. Raises RestoreError, before anything is created,
    for a name the archive does not have or a table that cannot be restored without one
    left out (a partition without its partitioned table, a table inheriting from another)."""
    planner = _Planner(toc)
    for start in _resolve(planner, selection, backup_id):
        planner.roots |= start
    stuck = [_cannot(planner.by_id[r], b) for r in sorted(planner.roots)
             if planner.by_id[r].kind == "TABLE" and (b := planner.blocker(r)) is not None]
    if stuck:
        raise RestoreError("; ".join(stuck))
    kept: set[int] = set()
    left_out: dict[int, LeftOut] = {}

    def keep(dump_id: int) -> None:
        if dump_id not in kept:
            kept.add(dump_id)
            for d in planner.deps[dump_id]:
                keep(d)

    def place(entry: TocEntry) -> bool:
        needed = planner.blocker(entry.dump_id)
        if needed is None:
            keep(entry.dump_id)
        else:
            left_out[entry.dump_id] = LeftOut(entry.describe(),
                                              f"it needs {needed.describe()}, which is not restored")
        return needed is None

    for e in toc.entries:
        if e.dump_id in planner.roots:
            place(e)
    joined = True
    while joined:  # what belongs to restored objects joins them, until nothing more does
        joined = False
        for e in toc.entries:
            owners = planner.owners(e) if planner.attached(e) else []
            if (e.dump_id not in kept and e.dump_id not in left_out and owners
                    and all(o in kept for o in owners)):
                joined = place(e) or joined
    kept |= {e.dump_id for e in toc.entries if e.kind in SESSION_SETTINGS}
    notes = [left_out[i] for i in sorted(left_out)]
    if any(e.kind in LARGE_OBJECTS for e in toc.entries):
        notes.append(LeftOut("large objects", "they belong to no table or schema: a granular "
                                              "restore leaves them out"))
    restored = tuple(e for e in toc.entries if e.dump_id in kept)
    return SelectionPlan(
        selection=selection, kept=restored,
        tables=tuple(f"{e.schema}.{e.name}" for e in restored if e.kind == "TABLE"),
        left_out=tuple(notes))
