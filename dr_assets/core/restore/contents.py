"""What a backup's archive holds, from a stored copy alone: its schemas, its tables with the
manifest's row counts, and its other objects, from the table of contents at the copy's head
(pg_restore --list stops reading there; the rest of the copy is never read).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from dr_assets.core.copies.locate import candidate_stores, stat_copy
from dr_assets.core.errors import IntegrityError, RestoreError, StoreError
from dr_assets.core.format.keys import Keyring
from dr_assets.core.format.manifest import BackupManifest
from dr_assets.core.pg.binaries import find_tool, major_of
from dr_assets.core.restore.granular import ReadAhead, read_toc
from dr_assets.core.restore.loading import CopyRead
from dr_assets.core.restore.selection import SESSION_SETTINGS, quote_name, table_selector
from dr_assets.core.restore.toc import ArchiveToc
from dr_assets.core.stores.base import Store

# Properties of other entries, or pg_restore's own: not objects worth listing on their own.
NOT_LISTED = SESSION_SETTINGS | {
    "TABLE", "SCHEMA", "COMMENT", "ACL", "SECURITY LABEL", "DEFAULT ACL", "DEFAULT",
    "SEQUENCE OWNED BY", "TABLE ATTACH", "INDEX ATTACH", "DATABASE", "DATABASE PROPERTIES",
    "MATERIALIZED VIEW DATA",
}
LISTED_DATA = frozenset({"BLOB", "BLOB METADATA"})  # large objects: in the data section


@dataclass(frozen=True)
class ArchivedSchema:
    name: str
    selector: str  # how to name it to --schema


@dataclass(frozen=True)
class ArchivedTable:
    schema: str
    name: str
    selector: str  # how to name it to --table
    rows: int | None  # the manifest's count; None for one without rows of its own (partitioned)


@dataclass(frozen=True)
class ArchivedObject:
    kind: str
    schema: str | None
    name: str


@dataclass(frozen=True)
class ArchiveContents:
    backup_id: str
    app: str
    started_at: str
    dumped_by: str
    read_from: str
    bytes_read: int  # of the copy, from the store: its head only
    stored_bytes: int
    schemas: tuple[ArchivedSchema, ...]
    tables: tuple[ArchivedTable, ...]
    objects: tuple[ArchivedObject, ...]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def contents_of(toc: ArchiveToc, manifest: BackupManifest, read_from: str, bytes_read: int
                ) -> ArchiveContents:
    names = sorted({e.name for e in toc.entries if e.kind == "SCHEMA" and e.schema is None}
                   | {e.schema for e in toc.entries if e.schema is not None})
    filled = {(e.schema, e.name) for e in toc.entries if e.kind == "TABLE DATA"}
    tables = sorted((e.schema, e.name) for e in toc.entries
                    if e.kind == "TABLE" and e.schema is not None)
    return ArchiveContents(
        backup_id=manifest.backup_id, app=manifest.app, started_at=manifest.started_at,
        dumped_by=toc.dumped_by, read_from=read_from, bytes_read=bytes_read,
        stored_bytes=manifest.stored_bytes,
        schemas=tuple(ArchivedSchema(n, quote_name(n)) for n in names),
        tables=tuple(ArchivedTable(s, t, table_selector(s, t),
                                   manifest.row_counts.get(f"{s}.{t}") if (s, t) in filled
                                   else None) for s, t in tables),
        objects=tuple(ArchivedObject(e.kind, e.schema, e.name) for e in toc.entries
                      if e.kind not in NOT_LISTED and (not e.data or e.kind in LISTED_DATA)),
    )


def archive_contents(manifest: BackupManifest, stores: list[Store], keyring: Keyring
                     ) -> ArchiveContents:
    """Read from the first good copy's head; a copy that cannot be read is passed over for
    the next one. Reading only the head is no verification: nothing is recorded."""
    data_key = keyring.data_key(manifest.encryption.key_id, manifest.encryption.wrapped_key,
                           manifest.backup_id)
    pg_restore = find_tool("pg_restore", major_of(manifest.pg_dump_version))
    problems: dict[str, str] = {}
    for store in candidate_stores(manifest, stores):
        copy = CopyRead(store, manifest, data_key)
        try:
            unfit = stat_copy(store, manifest)
            if unfit is None:
                dump = ReadAhead(copy)
                try:
                    toc = read_toc(dump, pg_restore)
                finally:
                    dump.close()
                return contents_of(toc, manifest, store.name, copy.bytes_read)
        except (IntegrityError, StoreError) as exc:
            unfit = str(exc)
        problems[store.name] = unfit
    raise RestoreError(f"no copy of backup {manifest.backup_id} could be read: "
                       + "; ".join(f"{n}: {e}" for n, e in problems.items()))
