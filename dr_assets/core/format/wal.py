"""The stored form of one WAL file (a segment, the partial segment, a timeline history
file, a base backup's label): the same zstd + AES-256-GCM chunk stream as the dumps, behind
a small header naming what it holds.

Layout: magic `PGDRWAL1`, a 4-byte big-endian length, that many bytes of JSON (the
header: file name, kind, key id and wrapped data key, raw size and SHA-256, the stream's
SHA-256, when the bytes were received), then the stream. A WAL file is at most one segment
(16 MiB by default), so it is encoded whole in memory and the header can name the stream's
hash. The data key is wrapped for `wal:<server>:<name>`: an object copied under another
name, or to another server's archive, does not open.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from dataclasses import asdict, dataclass
from typing import Any

from dr_assets.core.errors import IntegrityError
from dr_assets.core.format.keys import Keyring
from dr_assets.core.format.stream import BackupDecoder, encode_all

WAL_MAGIC = b"PGDRWAL1"
WAL_FORMAT = 1
_LENGTH = struct.Struct(">I")
MAX_HEADER = 1 << 16


class WalKind:
    SEGMENT = "segment"
    PARTIAL = "partial"
    HISTORY = "history"


@dataclass(frozen=True)
class WalHeader:
    server: str
    name: str  # the file name PostgreSQL knows (a .partial keeps its suffix)
    kind: str
    key_id: str
    wrapped_key: str
    raw_bytes: int
    raw_sha256: str
    stream_sha256: str
    received_at: str  # ISO 8601: the bytes were on the streamer's disk by then
    # For a partial segment: how far into the segment the received bytes reach (the rest is
    # pg_receivewal's zero padding).
    written_bytes: int | None = None
    format: int = WAL_FORMAT

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> WalHeader:
        known = {k: raw[k] for k in cls.__dataclass_fields__ if k in raw}
        return cls(**known)


def wal_key_context(server: str, name: str) -> str:
    return f"wal:{server}:{name}"


def seal_wal(raw: bytes, *, server: str, name: str, kind: str, keyring: Keyring,
             chunk_size: int, level: int, received_at: str,
             written_bytes: int | None = None) -> tuple[WalHeader, bytes]:
    """The stored object for one WAL file's bytes, and its header."""
    data_key = os.urandom(32)
    master = keyring.current
    stream = encode_all([raw], data_key, chunk_size, level)
    header = WalHeader(
        server=server, name=name, kind=kind, key_id=master.key_id,
        wrapped_key=master.wrap(data_key, wal_key_context(server, name)),
        raw_bytes=len(raw), raw_sha256=hashlib.sha256(raw).hexdigest(),
        stream_sha256=hashlib.sha256(stream).hexdigest(), received_at=received_at,
        written_bytes=written_bytes,
    )
    head = json.dumps(asdict(header), separators=(",", ":")).encode()
    return header, WAL_MAGIC + _LENGTH.pack(len(head)) + head + stream


def read_wal_header(blob: bytes, where: str) -> tuple[WalHeader, int]:
    """The header of a stored WAL object and the offset of its stream; IntegrityError
    when the object does not start like one."""
    start = len(WAL_MAGIC) + _LENGTH.size
    if len(blob) < start or blob[: len(WAL_MAGIC)] != WAL_MAGIC:
        raise IntegrityError(f"{where}: not a stored WAL file (bad magic)")
    (length,) = _LENGTH.unpack_from(blob, len(WAL_MAGIC))
    if length > MAX_HEADER or len(blob) < start + length:
        raise IntegrityError(f"{where}: stored WAL header is truncated or too long")
    try:
        header = WalHeader.from_dict(json.loads(blob[start : start + length]))
    except (ValueError, TypeError) as exc:
        raise IntegrityError(f"{where}: stored WAL header does not parse ({exc})") from None
    return header, start + length


def open_wal(blob: bytes, keyring: Keyring, *, server: str, name: str, where: str) -> tuple[WalHeader, bytes]:
    """Verify and decrypt a stored WAL object: its stream hash, every chunk's tag, the
    name it was sealed for and the raw bytes' hash. IntegrityError names what failed."""
    header, offset = read_wal_header(blob, where)
    if header.name != name or header.server != server:
        raise IntegrityError(f"{where}: holds {header.server}/{header.name}, not {server}/{name}")
    stream = memoryview(blob)[offset:]
    if hashlib.sha256(stream).hexdigest() != header.stream_sha256:
        raise IntegrityError(f"{where}: SHA-256 of the stored bytes does not match its header "
                             "(the copy is damaged)")
    data_key = keyring.data_key(header.key_id, header.wrapped_key,
                                wal_key_context(server, name))
    decoder = BackupDecoder(data_key, where)
    pieces = list(decoder.write(bytes(stream)))
    pieces.extend(decoder.finish())
    raw = b"".join(pieces)
    if hashlib.sha256(raw).hexdigest() != header.raw_sha256 or len(raw) != header.raw_bytes:
        raise IntegrityError(f"{where}: decrypted bytes do not match the recorded SHA-256")
    return header, raw
