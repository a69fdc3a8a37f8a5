"""A server's WAL archive in the stores: where each WAL file lives, putting one into every
store (a completed segment is immutable: the same bytes again are a no-op, different
bytes are a conflict and never overwrite) and fetching one verified, falling back to the
next store's copy when one is bad.

Keys (under each store's prefix):

    _wal/<server>/<TTTTTTTT>/<segment>           completed segments of timeline T
    _wal/<server>/<TTTTTTTT>/<segment>.partial   the segment still being received
    _wal/<server>/history/<TTTTTTTT>.history     timeline history files
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from dr_assets.core.errors import IntegrityError, StoreError, WalMissing
from dr_assets.core.format.keys import Keyring
from dr_assets.core.format.wal import WalHeader, WalKind, open_wal, read_wal_header, seal_wal
from dr_assets.core.pg.wal_names import (
    PARTIAL_SUFFIX,
    history_timeline,
    is_partial_name,
    is_segment_name,
)
from dr_assets.core.stores.base import Store

WAL_ROOT = "_wal"
HEADER_PEEK = 1 << 16


class PutOutcome:
    STORED = "stored"
    ALREADY = "already"  # the same bytes were there (a restart re-sending what it sent)
    CONFLICT = "conflict"  # different bytes under a completed name: kept, never overwritten
    FAILED = "failed"


def kind_of(name: str) -> str:
    if is_segment_name(name):
        return WalKind.SEGMENT
    if is_partial_name(name):
        return WalKind.PARTIAL
    if history_timeline(name) is not None:
        return WalKind.HISTORY
    raise ValueError(f"{name!r} is not a WAL segment, partial segment or history file")


def wal_prefix(server: str) -> str:
    return f"{WAL_ROOT}/{server}/"


def wal_key(server: str, name: str) -> str:
    if kind_of(name) == WalKind.HISTORY:
        return f"{WAL_ROOT}/{server}/history/{name}"
    return f"{WAL_ROOT}/{server}/{name[:8]}/{name}"


def name_of_key(key: str) -> str:
    return key.rsplit("/", 1)[-1]


@dataclass
class PutResult:
    name: str
    outcomes: dict[str, str] = field(default_factory=dict)  # store -> PutOutcome
    errors: dict[str, str] = field(default_factory=dict)  # store -> why it failed / conflicts
    header: WalHeader | None = None

    @property
    def held_by(self) -> list[str]:
        """Stores that now hold these exact bytes."""
        return [s for s, o in self.outcomes.items() if o in (PutOutcome.STORED, PutOutcome.ALREADY)]

    @property
    def conflicts(self) -> dict[str, str]:
        return {s: self.errors[s] for s, o in self.outcomes.items() if o == PutOutcome.CONFLICT}

    @property
    def failed(self) -> list[str]:
        return [s for s, o in self.outcomes.items() if o == PutOutcome.FAILED]


@dataclass
class Fetched:
    name: str
    raw: bytes
    header: WalHeader
    store: str
    bad_copies: dict[str, str] = field(default_factory=dict)  # store -> what was wrong


class WalArchive:
    """One server's WAL in a list of stores, sealed with the config's keyring."""

    def __init__(self, server: str, stores: list[Store], keyring: Keyring, *,
                 chunk_size: int = 1 << 20, level: int = 1) -> None:
        self.server = server
        self.stores = stores
        self.keyring = keyring
        self.chunk_size = chunk_size
        self.level = level

    def key(self, name: str) -> str:
        return wal_key(self.server, name)

    def put(self, name: str, raw: bytes, *, received_at: str, only: list[str] | None = None,
            written_bytes: int | None = None) -> PutResult:
        """Store one WAL file in every store (or those named in `only`)."""
        kind = kind_of(name)
        header, blob = seal_wal(raw, server=self.server, name=name, kind=kind,
                                keyring=self.keyring, chunk_size=self.chunk_size,
                                level=self.level, received_at=received_at,
                                written_bytes=written_bytes)
        result = PutResult(name=name, header=header)
        key = self.key(name)
        for store in self.stores:
            if only is not None and store.name not in only:
                continue
            try:
                if kind != WalKind.PARTIAL and store.size(key) is not None:
                    existing = self._stored_header(store, key)
                    if existing is not None and existing.raw_sha256 == header.raw_sha256:
                        result.outcomes[store.name] = PutOutcome.ALREADY
                        continue
                    if existing is not None:
                        result.outcomes[store.name] = PutOutcome.CONFLICT
                        result.errors[store.name] = (
                            f"{store.describe(key)} already holds different bytes for {name} "
                            f"(stored SHA-256 {existing.raw_sha256[:16]}…, received "
                            f"{header.raw_sha256[:16]}…, received at {existing.received_at}): "
                            "kept as it is; two servers may be streaming into one archive")
                        continue
                    # unreadable leftover (no valid header): not a copy, replace it
                store.put_bytes(key, blob)
                result.outcomes[store.name] = PutOutcome.STORED
            except StoreError as exc:
                result.outcomes[store.name] = PutOutcome.FAILED
                result.errors[store.name] = str(exc)
        return result

    def _stored_header(self, store: Store, key: str) -> WalHeader | None:
        blob = b""
        for block in store.iter_object(key, HEADER_PEEK):
            blob += block
            break
        try:
            return read_wal_header(blob, store.describe(key))[0]
        except IntegrityError:
            return None

    def header(self, store: Store, name: str) -> WalHeader | None:
        """The header of a store's copy (None when it has none or it does not parse)."""
        key = self.key(name)
        try:
            if store.size(key) is None:
                return None
            return self._stored_header(store, key)
        except StoreError:
            return None

    def fetch(self, name: str, prefer: list[str] | None = None) -> Fetched:
        """The verified, decrypted bytes of one WAL file from the first store whose copy is
        good; WalMissing (naming every store's problem) when none is."""
        order = sorted(self.stores, key=lambda s: (prefer or []).index(s.name)
                       if s.name in (prefer or []) else len(prefer or []))
        key = self.key(name)
        bad: dict[str, str] = {}
        absent: list[str] = []
        for store in order:
            where = store.describe(key)
            try:
                if store.size(key) is None:
                    absent.append(store.name)
                    continue
                blob = store.get_bytes(key)
                header, raw = open_wal(blob, self.keyring, server=self.server, name=name,
                                       where=where)
            except (StoreError, IntegrityError) as exc:
                bad[store.name] = str(exc)
                continue
            return Fetched(name=name, raw=raw, header=header, store=store.name, bad_copies=bad)
        problems = [*bad.values(), *(f"{s}: no copy" for s in absent)]
        raise WalMissing(f"WAL file {name} of server {self.server}: no good copy in any "
                         f"store ({'; '.join(problems)})")

    def names(self, store: Store) -> Iterator[str]:
        """Every WAL file name a store holds for this server (partials keep their suffix)."""
        for key in store.list_keys(wal_prefix(self.server)):
            name = name_of_key(key)
            try:
                kind_of(name)
            except ValueError:
                continue
            yield name

    def delete(self, store: Store, name: str) -> None:
        store.delete(self.key(name))


def completed_name(partial: str) -> str:
    return partial.removesuffix(PARTIAL_SUFFIX)
