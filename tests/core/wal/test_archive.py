"""The WAL archive's names and stored form: segment arithmetic as PostgreSQL spells it, a
round trip through every store, the same bytes again a no-op, different bytes under a
completed name a conflict that overwrites nothing, and a damaged copy passed over for a
good one (reported by name)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dr_assets.core.errors import IntegrityError, InvalidName, WalMissing
from dr_assets.core.format.keys import Keyring, MasterKey
from dr_assets.core.format.wal import open_wal, seal_wal
from dr_assets.core.pg.wal_names import Segment, format_lsn, parse_history, parse_lsn
from dr_assets.core.policy import DestinationConfig
from dr_assets.core.stores.local import LocalStore
from dr_assets.core.wal.archive import PutOutcome, WalArchive, wal_key

KEYRING = Keyring(MasterKey.from_bytes(bytes(range(32))))


def test_lsn_and_segment_names() -> None:
    assert parse_lsn("16/B374D848") == (0x16 << 32) | 0xB374D848
    assert format_lsn(parse_lsn("0/3000060")) == "0/3000060"
    seg = Segment.of(1, parse_lsn("0/3000060"))
    assert seg.name == "000000010000000000000003"
    assert Segment.parse("0000000200000001000000FF").number == 0x1FF
    assert Segment.parse("0000000100000000000000FF").next().name == "000000010000000100000000"
    for bad in ("0/", "x/1", "1/2\n", "", "0/123456789"):
        with pytest.raises(InvalidName):
            parse_lsn(bad)
    history = parse_history("1\t0/3000060\tno recovery target specified\n\n")
    assert history[0].timeline == 1 and format_lsn(history[0].switch_lsn) == "0/3000060"


def test_sealed_wal_opens_only_under_its_own_name() -> None:
    raw = os.urandom(1000) + bytes(50_000)
    header, blob = seal_wal(raw, server="main", name="000000010000000000000003", kind="segment",
                            keyring=KEYRING, chunk_size=4096, level=1, received_at="t")
    assert open_wal(blob, KEYRING, server="main", name=header.name, where="x")[1] == raw
    with pytest.raises(IntegrityError):
        open_wal(blob, KEYRING, server="main", name="000000010000000000000004", where="x")
    damaged = bytearray(blob)
    damaged[-100] ^= 1
    with pytest.raises(IntegrityError, match="SHA-256"):
        open_wal(bytes(damaged), KEYRING, server="main", name=header.name, where="x")


def _stores(tmp_path: Path) -> list[LocalStore]:
    return [LocalStore(DestinationConfig(name=n, kind="local", path=str(tmp_path / n)))
            for n in ("a", "b")]


def test_put_is_idempotent_and_never_overwrites_a_completed_segment(tmp_path: Path) -> None:
    stores = _stores(tmp_path)
    archive = WalArchive("main", list(stores), KEYRING, chunk_size=4096)
    name = "000000010000000000000007"
    first = archive.put(name, b"one" * 1000, received_at="t1")
    assert first.outcomes == {"a": PutOutcome.STORED, "b": PutOutcome.STORED}
    again = archive.put(name, b"one" * 1000, received_at="t2")
    assert again.outcomes == {"a": PutOutcome.ALREADY, "b": PutOutcome.ALREADY}
    other = archive.put(name, b"two" * 1000, received_at="t3")
    assert set(other.conflicts) == {"a", "b"} and "different bytes" in other.conflicts["a"]
    assert archive.fetch(name).raw == b"one" * 1000
    partial = f"{name[:-1]}8.partial"
    archive.put(partial, b"p1", received_at="t4")
    archive.put(partial, b"p2", received_at="t5")  # a partial is replaced as it grows
    assert archive.fetch(partial).raw == b"p2"


def test_fetch_falls_back_to_a_good_copy_and_names_the_bad_one(tmp_path: Path) -> None:
    stores = _stores(tmp_path)
    archive = WalArchive("main", list(stores), KEYRING, chunk_size=4096)
    name = "000000010000000000000009"
    archive.put(name, os.urandom(20_000), received_at="t")
    path = stores[0].path_of(wal_key("main", name))
    blob = bytearray(path.read_bytes())
    blob[-10] ^= 0xFF
    path.write_bytes(bytes(blob))
    got = archive.fetch(name, prefer=["a"])
    assert got.store == "b" and "a" in got.bad_copies and "damaged" in got.bad_copies["a"]
    stores[1].path_of(wal_key("main", name)).unlink()
    with pytest.raises(WalMissing, match=name):
        archive.fetch(name)
