"""The S3 store's growing parts against the real SeaweedFS: with the part limit lowered, a
small object takes several part sizes and reads back whole; one that outgrows the limit
fails its store alone, naming the limit, and leaves no multipart upload behind; a part
that takes longer to send than the connect timeout still goes through."""

from __future__ import annotations

import hashlib
import random
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dr_assets.core.errors import StoreError
from dr_assets.core.policy import DestinationConfig
from dr_assets.core.stores import s3 as s3_module
from dr_assets.core.stores.local import LocalStore
from dr_assets.core.stores.mirrored import MirroredWriter
from dr_assets.core.stores.parts import MIB, MIN_PART, PartSchedule
from dr_assets.core.stores.s3 import S3Store
from dr_assets.devstack.seaweed import SeaweedServer
from tests.support.env import BUCKET
from tests.support.throttle import ThrottledProxy


def s3_dest(server: SeaweedServer, prefix: str, **extra: Any) -> DestinationConfig:
    return DestinationConfig(**{
        "name": "s3", "kind": "s3", "bucket": BUCKET, "prefix": prefix,
        "endpoint_url": server.endpoint, "access_key_id": server.access_key,
        "secret_access_key": server.secret_key, **extra})


def pieces(total: int, seed: int) -> Iterator[bytes]:
    """Random bytes in pieces of uneven sizes, so no part boundary falls on a piece's."""
    rng = random.Random(seed)
    left = total
    while left:
        n = min(left, rng.randint(100_000, 1_400_000))
        left -= n
        yield rng.randbytes(n)


def open_uploads(store: S3Store) -> list[dict[str, Any]]:
    resp = store.client.list_multipart_uploads(Bucket=BUCKET, Prefix=f"{store.prefix}/")
    return list(resp.get("Uploads", []))


@pytest.fixture
def prefix() -> str:
    return f"t{secrets.token_hex(4)}"


def test_parts_grow_by_the_schedule_and_the_object_reads_back_whole(
        s3_server: SeaweedServer, prefix: str) -> None:
    schedule = PartSchedule(first=MIN_PART, step_every=2, max_parts=8)
    store = S3Store(s3_dest(s3_server, prefix), parts=schedule)
    total = schedule.capacity(5) + 3 * MIB  # five full parts of three sizes, a short last one
    written = hashlib.sha256()
    writer = store.open_writer("big/object.bin")
    for piece in pieces(total, seed=1):
        written.update(piece)
        writer.write(piece)
    writer.commit()

    read = hashlib.sha256()
    for block in store.iter_object("big/object.bin"):
        read.update(block)
    assert read.hexdigest() == written.hexdigest()
    assert store.size("big/object.bin") == total
    parts = store.client.get_object_attributes(
        Bucket=BUCKET, Key=store.full_key("big/object.bin"), ObjectAttributes=["ObjectParts"],
    )["ObjectParts"]
    assert parts["TotalPartsCount"] == 6
    assert [p["Size"] // MIB for p in parts["Parts"]] == [5, 5, 10, 10, 20, 3]
    assert [p["Size"] for p in parts["Parts"][:5]] == [schedule.size(n) for n in range(1, 6)]
    assert open_uploads(store) == []


def test_an_object_past_the_part_limit_fails_its_store_alone_and_leaves_no_upload(
        s3_server: SeaweedServer, prefix: str, tmp_path: Path) -> None:
    schedule = PartSchedule(first=MIN_PART, step_every=1, max_parts=2)  # 5 + 10 MiB
    s3 = S3Store(s3_dest(s3_server, prefix), parts=schedule)
    local = LocalStore(DestinationConfig(name="local", kind="local", path=str(tmp_path)))
    total = schedule.capacity() + MIB
    writer = MirroredWriter.open([s3, local], "big/too-big.bin")
    for piece in pieces(total, seed=2):
        writer.write(piece)
    writer.commit()

    assert writer.healthy == [local]
    assert ("the object outgrew its multipart upload: 2 parts from 5 MiB, doubling every 1 up "
            "to 1 GiB hold 15 MiB; S3 stores at most 5 TiB in one object") in writer.errors["s3"]
    assert local.size("big/too-big.bin") == total
    assert s3.size("big/too-big.bin") is None
    assert open_uploads(s3) == []


def test_a_failed_upload_is_aborted_even_when_its_caller_never_aborts(
        s3_server: SeaweedServer, prefix: str) -> None:
    s3 = S3Store(s3_dest(s3_server, prefix, grow_parts=False),
                 parts=PartSchedule(first=MIN_PART, grows=False, max_parts=2))
    writer = s3.open_writer("big/abandoned.bin")
    deadline = time.monotonic() + 60
    with pytest.raises(StoreError, match=r"2 parts of 5 MiB hold 10 MiB; set grow_parts = true"):
        for piece in pieces(11 * MIB, seed=3):
            writer.write(piece)
        while time.monotonic() < deadline:  # the failure shows on the first write after it
            writer.write(b"\0")
            time.sleep(0.05)
    assert open_uploads(s3) == []


def test_dr_toml_chooses_the_schedule() -> None:
    grown = S3Store(DestinationConfig(name="s3", kind="s3", bucket=BUCKET, part_size_mb=32))
    assert grown.parts == PartSchedule(first=32 * MIB)
    fixed = S3Store(DestinationConfig(name="s3", kind="s3", bucket=BUCKET, grow_parts=False))
    assert fixed.parts == PartSchedule(first=16 * MIB, grows=False)


def test_a_part_slower_to_send_than_the_connect_timeout_still_goes_through(
        s3_server: SeaweedServer, prefix: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # The throttling proxy is the fault: the real SeaweedFS on the loopback is never a slow
    # link. A part's buffer handed to botocore as a bytearray goes out in one sendall(),
    # which must be done within the connect timeout; this part takes about two seconds.
    monkeypatch.setattr(s3_module, "CONNECT_TIMEOUT", 0.5)
    proxy = ThrottledProxy(s3_server.s3_port, rate=4 * MIB)
    try:
        dest = s3_dest(s3_server, prefix, endpoint_url=f"http://127.0.0.1:{proxy.port}")
        store = S3Store(dest, parts=PartSchedule(first=8 * MIB))
        data = random.Random(4).randbytes(8 * MIB + 100_000)  # a part and a short last one
        started = time.monotonic()
        writer = store.open_writer("slow/object.bin")
        writer.write(data)
        writer.commit()
        assert time.monotonic() - started > 1.0, "the proxy did slow the upload down"
    finally:
        proxy.close()
    assert hashlib.sha256(store.get_bytes("slow/object.bin")).digest() \
        == hashlib.sha256(data).digest()
