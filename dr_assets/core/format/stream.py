"""The stored byte format: zstd, then AES-256-GCM in fixed-size chunks, hashed with SHA-256.

Layout: a 12-byte header (magic ``PGDR``, version, 3 reserved bytes, chunk size), then
chunks of ``chunk_size + 16`` bytes; the last chunk holds fewer than ``chunk_size``
plaintext bytes (possibly none), so its shorter length marks the end. Each chunk's nonce
is its index and a final flag, and the header is its associated data: a flipped bit, a
reordered, dropped or appended chunk, or a cut at a chunk boundary all fail to decrypt.
The SHA-256 covers the stored bytes, so a copy can be verified without the key.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Iterator

import zstandard
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from dr_assets.core.errors import IntegrityError

MAGIC = b"PGDR"
VERSION = 1
HEADER_SIZE = 12
TAG_SIZE = 16
NONCE_SCHEME = "index64-final32"
INFLATE_SLICE = 1 << 16


def _header(chunk_size: int) -> bytes:
    return MAGIC + bytes([VERSION, 0, 0, 0]) + struct.pack(">I", chunk_size)


def _nonce(index: int, final: bool) -> bytes:
    return struct.pack(">QI", index, 1 if final else 0)


class ChunkEncryptor:
    def __init__(self, key: bytes, chunk_size: int) -> None:
        self._aead = AESGCM(key)
        self._chunk = chunk_size
        self._header = _header(chunk_size)
        self._buf = bytearray()
        self._index = 0
        self._started = False

    def _seal(self, plain: bytes | bytearray | memoryview, final: bool) -> bytes:
        sealed = self._aead.encrypt(_nonce(self._index, final), bytes(plain), self._header)
        self._index += 1
        return sealed

    def feed(self, data: bytes) -> list[bytes]:
        out: list[bytes] = []
        if not self._started:
            out.append(self._header)
            self._started = True
        self._buf += data
        size = self._chunk
        # Keep at least one byte back: the final chunk must be short, never full.
        if len(self._buf) > size:
            view = memoryview(self._buf)
            taken = 0
            while len(self._buf) - taken > size:
                out.append(self._seal(view[taken : taken + size], False))
                taken += size
            view.release()
            del self._buf[:taken]
        return out

    def finish(self) -> list[bytes]:
        out = self.feed(b"")
        if len(self._buf) == self._chunk:
            out.append(self._seal(self._buf, False))
            self._buf.clear()
        out.append(self._seal(self._buf, True))
        self._buf.clear()
        return out


class ChunkDecryptor:
    def __init__(self, key: bytes, where: str) -> None:
        self._aead = AESGCM(key)
        self._where = where
        self._buf = bytearray()
        self._header: bytes | None = None
        self._stored_chunk = 0
        self._index = 0

    def _fail(self, what: str) -> IntegrityError:
        return IntegrityError(f"{self._where}: {what}")

    def _open(self, sealed: bytes | bytearray | memoryview, final: bool) -> bytes:
        assert self._header is not None
        try:
            plain = self._aead.decrypt(_nonce(self._index, final), bytes(sealed), self._header)
        except InvalidTag:
            raise self._fail(
                f"chunk {self._index} failed authentication (corrupted, reordered, truncated "
                "or encrypted with another key)"
            ) from None
        self._index += 1
        return plain

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        if self._header is None:
            if len(self._buf) < HEADER_SIZE:
                return []
            head = bytes(self._buf[:HEADER_SIZE])
            if head[:4] != MAGIC or head[4] != VERSION:
                raise self._fail("not a pgdr encrypted stream (bad header)")
            self._header = head
            self._stored_chunk = struct.unpack(">I", head[8:12])[0] + TAG_SIZE
            del self._buf[:HEADER_SIZE]
        out: list[bytes] = []
        size = self._stored_chunk
        if len(self._buf) > size:
            view = memoryview(self._buf)
            taken = 0
            while len(self._buf) - taken > size:
                out.append(self._open(view[taken : taken + size], False))
                taken += size
            view.release()
            del self._buf[:taken]
        return out

    def finish(self) -> list[bytes]:
        if self._header is None:
            raise self._fail("stream is shorter than its header (truncated)")
        if len(self._buf) >= self._stored_chunk or len(self._buf) < TAG_SIZE:
            raise self._fail("stream ends without its final chunk (truncated)")
        last = self._open(self._buf, True)
        self._buf.clear()
        return [last]


class BackupEncoder:
    """Raw dump bytes in, stored bytes out; counts sizes and hashes what is stored."""

    def __init__(self, data_key: bytes, chunk_size: int, level: int = 3, threads: int = -1):
        params = zstandard.ZstdCompressionParameters.from_level(level, threads=threads)
        self._zstd = zstandard.ZstdCompressor(compression_params=params).compressobj()
        self._enc = ChunkEncryptor(data_key, chunk_size)
        self._sha = hashlib.sha256()
        self.raw_bytes = 0
        self.stored_bytes = 0

    def _account(self, pieces: list[bytes]) -> list[bytes]:
        for piece in pieces:
            self._sha.update(piece)
            self.stored_bytes += len(piece)
        return pieces

    def write(self, raw: bytes) -> list[bytes]:
        self.raw_bytes += len(raw)
        compressed = self._zstd.compress(raw)
        return self._account(self._enc.feed(compressed)) if compressed else []

    def finish(self) -> list[bytes]:
        tail = self._zstd.flush(zstandard.COMPRESSOBJ_FLUSH_FINISH)
        pieces = self._enc.feed(tail) if tail else []
        return self._account(pieces + self._enc.finish())

    @property
    def sha256(self) -> str:
        return self._sha.hexdigest()


class BackupDecoder:
    """Stored bytes in, raw dump bytes out; checks the SHA-256 and every chunk's tag."""

    def __init__(self, data_key: bytes, where: str) -> None:
        self._dec = ChunkDecryptor(data_key, where)
        self._zstd = zstandard.ZstdDecompressor().decompressobj()
        self._sha = hashlib.sha256()
        self.stored_bytes = 0
        self.raw_bytes = 0

    def _inflate(self, plains: list[bytes]) -> Iterator[bytes]:
        # A 1 MiB chunk of pgbench-like data inflates to 100+ MiB in one decompress() call:
        # feed it in slices and hand each piece on before making the next.
        for p in plains:
            view = memoryview(p)
            for start in range(0, len(p), INFLATE_SLICE):
                raw = self._zstd.decompress(view[start : start + INFLATE_SLICE])
                if raw:
                    self.raw_bytes += len(raw)
                    yield raw

    def write(self, stored: bytes) -> Iterator[bytes]:
        """Decrypt now; the returned pieces are inflated as the caller takes them."""
        self._sha.update(stored)
        self.stored_bytes += len(stored)
        return self._inflate(self._dec.feed(stored))

    def finish(self) -> Iterator[bytes]:
        """Decrypt the final chunk now, so a truncated stream fails here, before the caller
        takes any of its pieces; they are inflated as the caller takes them."""
        return self._inflate_last(self._dec.finish())

    def _inflate_last(self, plains: list[bytes]) -> Iterator[bytes]:
        yield from self._inflate(plains)
        if not self._zstd.eof:
            raise IntegrityError("compressed stream ends early (truncated before encryption)")

    @property
    def sha256(self) -> str:
        return self._sha.hexdigest()


def encode_all(blocks: Iterable[bytes], key: bytes, chunk_size: int, level: int = 3) -> bytes:
    """Whole-buffer helper for tests and small payloads."""
    enc = BackupEncoder(key, chunk_size, level, threads=0)
    out = [p for b in blocks for p in enc.write(b)]
    return b"".join(out + enc.finish())

