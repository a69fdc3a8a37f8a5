"""The stored byte format: round trips at every chunk boundary, and tampering detected,
decoded the way a restore reads a copy (restore.loading.CopyRead)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from dr_assets.core.errors import IntegrityError
from dr_assets.core.format.manifest import BackupManifest, EncryptionInfo
from dr_assets.core.format.stream import HEADER_SIZE, TAG_SIZE, encode_all
from dr_assets.core.policy import DestinationConfig
from dr_assets.core.restore.loading import CopyRead
from dr_assets.core.stores.base import READ_BLOCK
from dr_assets.core.stores.local import LocalStore

KEY = bytes(range(32))
CHUNK = 1024
PIECE = 777  # stored bytes per read: chunks straddle reads at every offset
MANIFEST = BackupManifest(
    app="shop", backup_id="shop-20260101T000000Z-3f9a", started_at="2026-01-01T00:00:00Z",
    finished_at="2026-01-01T00:00:01Z", source_database="shop", source_host="127.0.0.1:5432",
    server_version="15", pg_dump_version="15", raw_bytes=0, stored_bytes=0, sha256="",
    encryption=EncryptionInfo(key_id="test", wrapped_key="", chunk_size=CHUNK),
    row_counts={}, destinations={},
)

Decode = Callable[..., bytes]


class PiecewiseStore(LocalStore):
    def iter_object(self, key: str, block: int = READ_BLOCK) -> Iterator[bytes]:
        return super().iter_object(key, PIECE)


def _blocks(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)] or [b""]


def _describing(stored: bytes) -> BackupManifest:
    """A manifest whose size and SHA-256 are those of `stored`, so that only the format's
    own checks (chunk tags, header, final chunk) are left to catch what a test did to it."""
    return replace(MANIFEST, stored_bytes=len(stored), sha256=hashlib.sha256(stored).hexdigest())


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return PiecewiseStore(DestinationConfig(name="test copy", kind="local", path=str(tmp_path)))


@pytest.fixture
def decode(store: LocalStore) -> Decode:
    """Stores `stored` as the copy of MANIFEST's backup and decodes it back."""

    def run(stored: bytes, key: bytes = KEY) -> bytes:
        store.put_bytes(MANIFEST.object_key, stored)
        return b"".join(CopyRead(store, _describing(stored), key))

    return run


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 50_000])
def test_round_trip_at_chunk_boundaries(size: int, decode: Decode) -> None:
    # Incompressible data, so the compressed stream itself lands on chunk boundaries too.
    data = os.urandom(size)
    for feed in (1, 100, CHUNK, 4096):
        stored = encode_all(_blocks(data, feed), KEY, CHUNK)
        assert decode(stored) == data


def test_compressible_data_shrinks(decode: Decode) -> None:
    data = b"scholarship application approved\n" * 20_000
    stored = encode_all([data], KEY, CHUNK)
    assert len(stored) < len(data) / 20
    assert decode(stored) == data


def test_empty_input_still_has_a_final_chunk(decode: Decode) -> None:
    stored = encode_all([b""], KEY, CHUNK)
    assert len(stored) > HEADER_SIZE + TAG_SIZE
    assert decode(stored) == b""


def test_flipped_bit_is_detected(decode: Decode) -> None:
    stored = bytearray(encode_all([os.urandom(5000)], KEY, CHUNK))
    stored[HEADER_SIZE + 10] ^= 0x01
    with pytest.raises(IntegrityError, match="chunk 0 failed authentication"):
        decode(bytes(stored))


def test_truncation_at_a_chunk_boundary_is_detected(decode: Decode) -> None:
    stored = encode_all([os.urandom(5 * CHUNK)], KEY, CHUNK)
    cut = HEADER_SIZE + 2 * (CHUNK + TAG_SIZE)
    with pytest.raises(IntegrityError, match="truncated|authentication"):
        decode(stored[:cut])


def test_truncation_inside_a_chunk_is_detected(decode: Decode) -> None:
    stored = encode_all([os.urandom(5 * CHUNK)], KEY, CHUNK)
    with pytest.raises(IntegrityError):
        decode(stored[:-5])


def test_reordered_chunks_are_detected(decode: Decode) -> None:
    stored = encode_all([os.urandom(4 * CHUNK)], KEY, CHUNK)
    size = CHUNK + TAG_SIZE
    head, body = stored[:HEADER_SIZE], stored[HEADER_SIZE:]
    chunks = [body[i : i + size] for i in range(0, len(body), size)]
    chunks[0], chunks[1] = chunks[1], chunks[0]
    with pytest.raises(IntegrityError, match="chunk 0"):
        decode(head + b"".join(chunks))


def test_appended_bytes_are_detected(decode: Decode) -> None:
    stored = encode_all([os.urandom(3 * CHUNK)], KEY, CHUNK)
    with pytest.raises(IntegrityError):
        decode(stored + b"\x00" * 40)


def test_wrong_key_is_detected(decode: Decode) -> None:
    stored = encode_all([b"payload"], KEY, CHUNK)
    with pytest.raises(IntegrityError, match="another key|authentication"):
        decode(stored, key=os.urandom(32))


def test_not_our_format(decode: Decode) -> None:
    with pytest.raises(IntegrityError, match="bad header"):
        decode(b"PGDMP" + b"\x00" * 100)


def test_a_copy_that_is_not_the_manifests_never_hands_on_its_last_chunk(store: LocalStore
                                                                        ) -> None:
    """Every chunk authentic, only the SHA-256 the manifest holds differs (the fault injected
    here): the mismatch is raised before the final chunk's plaintext is handed on."""
    data = os.urandom(3 * CHUNK + 100)  # incompressible: the last chunk holds plaintext
    stored = encode_all([data], KEY, CHUNK)
    store.put_bytes(MANIFEST.object_key, stored)
    copy = CopyRead(store, replace(_describing(stored), sha256="0" * 64), KEY)
    handed_on = bytearray()
    with pytest.raises(IntegrityError, match="failed its checksum on test copy"):
        for piece in copy:
            handed_on += piece
    assert copy.bytes_read == len(stored)
    assert 0 < len(handed_on) < len(data) and data.startswith(bytes(handed_on))
