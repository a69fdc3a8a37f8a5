"""An archive's table of contents as pg_restore tells it: `--list --verbose` gives every
entry in archive order with its dependencies, the `--schema-only --verbose` script's headers
give each schema entry's name, kind, schema and owner apart, which the list runs together.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dr_assets.core.errors import RestoreError

_LISTED = re.compile(r"(\d+); (\d+) (\d+) (.*)")
_DEPENDS = re.compile(r";\s*depends on:((?: \d+)*)\s*")
_DUMPED_BY = re.compile(r";\s*Dumped by pg_dump version: (.*)")
_HEADER = re.compile(r"-- TOC entry (\d+) \(class \d+ OID \d+\)")
_NAME = "-- Name: "
_FIELDS = ("; Type: ", "; Schema: ", "; Owner: ")
_TABLESPACE = "; Tablespace: "
NO_SCHEMA = "-"  # how pg_restore prints the schema of an object outside any schema


@dataclass(frozen=True)
class TocEntry:
    """One entry of the archive, as pg_dump wrote it: `kind` is its description (TABLE,
    TABLE DATA, INDEX, FK CONSTRAINT ...), `name` its tag ("orders", "orders orders_pkey",
    "customer_spend(bigint)"), `data` whether it is loaded in the data section."""

    dump_id: int
    kind: str
    schema: str | None
    name: str
    owner: str
    depends_on: tuple[int, ...]
    line: str  # as `pg_restore --list` printed it: what a --use-list file names it by
    data: bool = False

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema is not None else self.name

    def describe(self) -> str:
        return f"{self.kind.lower()} {self.qualified}"


@dataclass(frozen=True)
class ArchiveToc:
    entries: tuple[TocEntry, ...]  # in archive order, the order a streamed restore needs
    dumped_by: str

    def by_id(self) -> dict[int, TocEntry]:
        return {e.dump_id: e for e in self.entries}


@dataclass(frozen=True)
class _Listed:
    dump_id: int
    text: str  # "KIND SCHEMA NAME OWNER", run together
    line: str
    depends_on: tuple[int, ...]


def _listed(listing: str) -> tuple[list[_Listed], str]:
    entries: list[_Listed] = []
    dumped_by = ""
    for line in listing.splitlines():
        if (m := _LISTED.fullmatch(line)) is not None:
            entries.append(_Listed(int(m.group(1)), m.group(4), line, ()))
        elif (d := _DEPENDS.fullmatch(line)) is not None and entries:
            last = entries[-1]
            entries[-1] = _Listed(last.dump_id, last.text, last.line,
                                  tuple(int(n) for n in d.group(1).split()))
        elif (v := _DUMPED_BY.fullmatch(line)) is not None:
            dumped_by = v.group(1).strip()
    return entries, dumped_by


def _positions(text: str, needle: str) -> list[int]:
    return [m.start() for m in re.finditer(re.escape(needle), text)]


def _splits(header: str) -> set[tuple[str, str, str, str]]:
    """Every (name, kind, schema, owner) the header "NAME; Type: KIND; Schema: S; Owner: O"
    could mean: names may hold the separators themselves."""
    found = set()
    for i in _positions(header, _FIELDS[0]):
        name, after_name = header[:i], header[i + len(_FIELDS[0]):]
        for j in _positions(after_name, _FIELDS[1]):
            kind, after_kind = after_name[:j], after_name[j + len(_FIELDS[1]):]
            for k in _positions(after_kind, _FIELDS[2]):
                schema, owned = after_kind[:k], after_kind[k + len(_FIELDS[2]):]
                for end in [len(owned), *_positions(owned, _TABLESPACE)]:
                    found.add((name, kind, schema, owned[:end]))
    return found


def _script_names(script: str) -> dict[int, set[tuple[str, str, str, str]]]:
    """Each schema entry's possible (name, kind, schema, owner), from the headers the
    script prints before it: "--", "-- TOC entry N (...)", ["-- Dependencies: ..."], "-- Name: ..."."""
    lines = script.splitlines()
    names: dict[int, set[tuple[str, str, str, str]]] = {}
    for i, line in enumerate(lines):
        m = _HEADER.fullmatch(line)
        if m is None or i == 0 or lines[i - 1] != "--":
            continue
        following = lines[i + 1:i + 3]
        if following and following[0].startswith("-- Dependencies:"):
            following = following[1:]
        if following and following[0].startswith(_NAME):
            names.setdefault(int(m.group(1)), set()).update(
                _splits(following[0][len(_NAME):]))
    return names


def _as_listed(kind: str, schema: str, name: str, owner: str) -> set[str]:
    # The script prints a missing owner as "-", the list as nothing.
    owners = {owner, ""} if owner == NO_SCHEMA else {owner}
    return {f"{kind} {schema} {name} {o}" for o in owners}


def _named(item: _Listed, candidates: set[tuple[str, str, str, str]]) -> TocEntry:
    fits = {c for c in candidates if item.text in _as_listed(c[1], c[2], c[0], c[3])}
    if len(fits) != 1:
        raise RestoreError(
            f"pg_restore lists entry {item.dump_id} ({item.line!r}) in a way that names it "
            f"{'ambiguously' if fits else 'unreadably'}: restore the whole database instead")
    name, kind, schema, owner = fits.pop()
    if f"{kind} {schema} {name} {owner}" != item.text:
        owner = ""
    return TocEntry(item.dump_id, kind, None if schema == NO_SCHEMA else schema, name, owner,
                    item.depends_on, item.line)


def _unscripted(item: _Listed, known: dict[int, TocEntry]) -> TocEntry:
    """A data entry (TABLE DATA, SEQUENCE SET ...), named as the object it fills, or one of
    pg_restore's own (ENCODING ...): the script has no header for it."""
    for dep in (known[d] for d in item.depends_on if d in known):
        shared = f" {dep.schema or NO_SCHEMA} {dep.name} {dep.owner}"
        if item.text.endswith(shared) and len(item.text) > len(shared):
            return TocEntry(item.dump_id, item.text[:-len(shared)], dep.schema, dep.name,
                            dep.owner, item.depends_on, item.line, data=True)
    # Outside any schema: "KIND - NAME OWNER", the owner one word (shown only, never matched).
    kind, _, rest = item.text.partition(f" {NO_SCHEMA} ")
    name, _, owner = rest.strip().rpartition(" ")
    return TocEntry(item.dump_id, kind, None, name or owner, owner if name else "",
                    item.depends_on, item.line, data=True)


def parse_toc(listing: str, script: str) -> ArchiveToc:
    """The archive's entries from `pg_restore --list --verbose` (`listing`) and the
    `pg_restore --schema-only --verbose --file=-` script of the same archive."""
    items, dumped_by = _listed(listing)
    if not items:
        raise RestoreError("pg_restore listed no entries: the archive's table of contents "
                           "could not be read")
    names = _script_names(script)
    known: dict[int, TocEntry] = {}
    for item in items:
        if item.dump_id in names:
            known[item.dump_id] = _named(item, names[item.dump_id])
    entries = tuple(known.get(i.dump_id) or _unscripted(i, known) for i in items)
    return ArchiveToc(entries, dumped_by)

