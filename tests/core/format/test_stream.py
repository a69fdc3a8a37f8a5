"""The stored byte format: round trips at every chunk boundary, and tampering detected."""

from __future__ import annotations

import os

import pytest

from dr_assets.core.errors import IntegrityError
from dr_assets.core.format.stream import HEADER_SIZE, TAG_SIZE, decode_iter, encode_all

KEY = bytes(range(32))
CHUNK = 1024


def _blocks(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)] or [b""]


def _decode(stored: bytes, key: bytes = KEY, piece: int = 777) -> bytes:
    return b"".join(decode_iter(_blocks(stored, piece), key, "test copy"))


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 50_000])
def test_round_trip_at_chunk_boundaries(size: int) -> None:
    # Incompressible data, so the compressed stream itself lands on chunk boundaries too.
    data = os.urandom(size)
    for feed in (1, 100, CHUNK, 4096):
        stored = encode_all(_blocks(data, feed), KEY, CHUNK)
        assert _decode(stored) == data


def test_compressible_data_shrinks() -> None:
    data = b"scholarship application approved\n" * 20_000
    stored = encode_all([data], KEY, CHUNK)
    assert len(stored) < len(data) / 20
    assert _decode(stored) == data


def test_empty_input_still_has_a_final_chunk() -> None:
    stored = encode_all([b""], KEY, CHUNK)
    assert len(stored) > HEADER_SIZE + TAG_SIZE
    assert _decode(stored) == b""


def test_flipped_bit_is_detected() -> None:
    stored = bytearray(encode_all([os.urandom(5000)], KEY, CHUNK))
    stored[HEADER_SIZE + 10] ^= 0x01
    with pytest.raises(IntegrityError, match="chunk 0 failed authentication"):
        _decode(bytes(stored))


def test_truncation_at_a_chunk_boundary_is_detected() -> None:
    stored = encode_all([os.urandom(5 * CHUNK)], KEY, CHUNK)
    cut = HEADER_SIZE + 2 * (CHUNK + TAG_SIZE)
    with pytest.raises(IntegrityError, match="truncated|authentication"):
        _decode(stored[:cut])


def test_truncation_inside_a_chunk_is_detected() -> None:
    stored = encode_all([os.urandom(5 * CHUNK)], KEY, CHUNK)
    with pytest.raises(IntegrityError):
        _decode(stored[:-5])


def test_reordered_chunks_are_detected() -> None:
    stored = encode_all([os.urandom(4 * CHUNK)], KEY, CHUNK)
    size = CHUNK + TAG_SIZE
    head, body = stored[:HEADER_SIZE], stored[HEADER_SIZE:]
    chunks = [body[i : i + size] for i in range(0, len(body), size)]
    chunks[0], chunks[1] = chunks[1], chunks[0]
    with pytest.raises(IntegrityError, match="chunk 0"):
        _decode(head + b"".join(chunks))


def test_appended_bytes_are_detected() -> None:
    stored = encode_all([os.urandom(3 * CHUNK)], KEY, CHUNK)
    with pytest.raises(IntegrityError):
        _decode(stored + b"\x00" * 40)


def test_wrong_key_is_detected() -> None:
    stored = encode_all([b"payload"], KEY, CHUNK)
    with pytest.raises(IntegrityError, match="another key|authentication"):
        _decode(stored, key=os.urandom(32))


def test_not_our_format() -> None:
    with pytest.raises(IntegrityError, match="bad header"):
        _decode(b"PGDMP" + b"\x00" * 100)
