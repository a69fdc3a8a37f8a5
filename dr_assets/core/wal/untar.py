"""A base backup unpacked into a data directory: one stored copy streamed through the
decoder (every chunk's tag, then the SHA-256 of the stored bytes) into tarfile's stream
mode and extracted safely (the "data" filter: no absolute paths, no `..`, no links out,
no devices); a bad copy falls back to the next store's, naming the bad one. The directory
is left as PostgreSQL wants it: mode 0700, pg_wal/ (and its archive_status/) present.
"""

from __future__ import annotations

import os
import shutil
import tarfile
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from dr_assets.core.errors import IntegrityError, RestoreError, StoreError
from dr_assets.core.format.base_backup import BaseBackupManifest
from dr_assets.core.format.keys import Keyring
from dr_assets.core.format.stream import BackupDecoder
from dr_assets.core.stores.base import Store


@dataclass(frozen=True)
class Unpacked:
    """Where a base backup was unpacked from, and the copies found bad on the way."""

    backup_id: str
    data_dir: Path
    store: str
    raw_bytes: int
    bad_copies: dict[str, str] = field(default_factory=dict)


class _Stream:
    """A read()-able file over an iterator of byte pieces: what tarfile's "r|" reads."""

    def __init__(self, pieces: Iterator[bytes]) -> None:
        self._pieces = pieces
        self._buf = bytearray()

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buf) < size:
            piece = next(self._pieces, None)
            if piece is None:
                break
            self._buf += piece
        n = len(self._buf) if size < 0 else min(size, len(self._buf))
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out


def _raw_pieces(store: Store, manifest: BaseBackupManifest, data_key: bytes
                ) -> Generator[bytes, None, None]:
    where = store.describe(manifest.object_key)
    decoder = BackupDecoder(data_key, where)
    for block in store.iter_object(manifest.object_key):
        yield from decoder.write(block)
    tail = decoder.finish()
    if decoder.sha256 != manifest.sha256 or decoder.stored_bytes != manifest.stored_bytes:
        raise IntegrityError(f"base backup {manifest.backup_id} failed its checksum on "
                             f"{store.name} (expected {manifest.sha256[:12]}.., got "
                             f"{decoder.sha256[:12]}..; {decoder.stored_bytes} of "
                             f"{manifest.stored_bytes} bytes)")
    yield from tail


def _empty(directory: Path) -> None:
    for entry in directory.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def _chown_tree(root: Path, owner: str) -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        shutil.chown(dirpath, owner, owner)
        for name in (*dirnames, *filenames):
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                shutil.chown(path, owner, owner)


def _order(stores: list[Store], manifest: BaseBackupManifest, prefer: list[str] | None
           ) -> list[Store]:
    ok = set(manifest.ok_destinations)
    wanted = prefer or []
    return sorted((s for s in stores if s.name in ok),
                  key=lambda s: (wanted.index(s.name) if s.name in wanted else len(wanted),
                                 s.kind != "local"))


def untar_base_backup(manifest: BaseBackupManifest, stores: list[Store], keyring: Keyring,
                      dest_dir: Path, prefer: list[str] | None = None,
                      owner: str | None = None) -> Unpacked:
    """Unpack the first good copy into DEST_DIR (created, or empty); with OWNER, the tree
    is chowned to that OS user (the server's, when running as root). RestoreError naming
    every bad copy when none is good."""
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    if any(dest.iterdir()):
        raise RestoreError(f"{dest} is not empty: a base backup is unpacked into an empty "
                           "directory only")
    data_key = keyring.data_key(manifest.encryption.key_id, manifest.encryption.wrapped_key,
                                manifest.backup_id)
    bad: dict[str, str] = {}
    for store in _order(stores, manifest, prefer):
        pieces = _raw_pieces(store, manifest, data_key)
        try:
            with tarfile.open(fileobj=_Stream(pieces), mode="r|") as tar:  # type: ignore[call-overload]
                tar.extractall(dest, filter="data")
            # tarfile stops at the end-of-archive marker: read what follows it, so the
            # stored copy's final chunk and SHA-256 are checked too.
            for _ in pieces:
                pass
        except (StoreError, IntegrityError, tarfile.TarError, OSError) as exc:
            bad[store.name] = str(exc)
            _empty(dest)
            continue
        finally:
            pieces.close()
        (dest / "pg_wal" / "archive_status").mkdir(parents=True, exist_ok=True)
        if owner is not None:
            _chown_tree(dest, owner)
        dest.chmod(0o700)
        return Unpacked(manifest.backup_id, dest, store.name, manifest.raw_bytes, bad)
    raise RestoreError(f"base backup {manifest.backup_id} of server {manifest.server}: no good "
                       "copy in any store ("
                       + ("; ".join(f"{n}: {e}" for n, e in bad.items()) or "no copy") + ")")
