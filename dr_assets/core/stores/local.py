"""A directory on a local or mounted filesystem; writes are atomic (temp, fsync, rename),
and private: files 0600, the directories it creates 0700, whatever the umask."""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from collections.abc import Collection, Iterator
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from dr_assets.core.errors import StoreError
from dr_assets.core.format.private_files import create_private, private_dirs
from dr_assets.core.policy import DestinationConfig
from dr_assets.core.stores.base import READ_BLOCK, ListedObject

PARTIAL_MARK = ".partial-"


def _partial_of(path: Path, start: Path) -> bool:
    """Whether `path` is a partial file of a key whose path starts with `start` (a writer's
    temporary file is `.<name>.partial-<hex>` beside it)."""
    return (path.parent == start.parent and PARTIAL_MARK in path.name
            and path.name.startswith(f".{start.name}"))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalWriter:
    def __init__(self, store: LocalStore, key: str) -> None:
        self._store = store
        self._final = store.path_of(key)
        self._tmp = self._final.with_name(f".{self._final.name}{PARTIAL_MARK}{secrets.token_hex(4)}")
        try:
            private_dirs(self._final.parent)
            self._fh: BinaryIO | None = os.fdopen(create_private(self._tmp), "wb")
        except OSError as exc:
            raise StoreError(f"{store.name}: cannot create {self._tmp}: {exc.strerror}") from None

    def write(self, data: bytes) -> None:
        assert self._fh is not None
        try:
            self._fh.write(data)
        except OSError as exc:
            raise StoreError(f"{self._store.name}: write to {self._final} failed: {exc.strerror}") from None

    def commit(self) -> None:
        assert self._fh is not None
        try:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            self._fh = None
            os.replace(self._tmp, self._final)
            _fsync_dir(self._final.parent)
        except OSError as exc:
            self.abort()
            raise StoreError(f"{self._store.name}: commit of {self._final} failed: {exc.strerror}") from None

    def abort(self) -> None:
        if self._fh is not None:
            with contextlib.suppress(OSError):
                self._fh.close()
            self._fh = None
        with contextlib.suppress(OSError):
            self._tmp.unlink(missing_ok=True)


class LocalStore:
    kind = "local"

    def __init__(self, dest: DestinationConfig) -> None:
        self.name = dest.name
        self.root = Path(dest.path)
        self.prefix = dest.prefix

    def path_of(self, key: str) -> Path:
        if ".." in key.split("/") or key.startswith("/"):
            raise StoreError(f"{self.name}: refusing key {key!r} outside the store")
        return self.root / self.prefix / key if self.prefix else self.root / key

    def describe(self, key: str) -> str:
        return f"{self.name} ({self.path_of(key)})"

    def open_writer(self, key: str) -> LocalWriter:
        return LocalWriter(self, key)

    def put_bytes(self, key: str, data: bytes) -> None:
        writer = self.open_writer(key)
        try:
            writer.write(data)
        except StoreError:
            writer.abort()
            raise
        writer.commit()

    def get_bytes(self, key: str) -> bytes:
        try:
            return self.path_of(key).read_bytes()
        except OSError as exc:
            raise StoreError(f"{self.describe(key)}: cannot read: {exc.strerror}") from None

    def iter_object(self, key: str, block: int = READ_BLOCK) -> Iterator[bytes]:
        try:
            fh = open(self.path_of(key), "rb")  # noqa: SIM115
        except OSError as exc:
            raise StoreError(f"{self.describe(key)}: cannot read: {exc.strerror}") from None
        with fh:
            while chunk := fh.read(block):
                yield chunk

    def size(self, key: str) -> int | None:
        try:
            return self.path_of(key).stat().st_size
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreError(f"{self.describe(key)}: cannot stat: {exc.strerror}") from None

    def _base(self) -> Path:
        return self.root / self.prefix if self.prefix else self.root

    def list_keys(self, under: str = "") -> Iterator[str]:
        base = self._base()
        start = base / under if under else base
        if not start.exists():
            return
        for dirpath, _dirs, files in os.walk(start):
            for f in sorted(files):
                if PARTIAL_MARK in f:
                    continue
                yield (Path(dirpath) / f).relative_to(base).as_posix()

    def list_objects(self, under: str = "") -> Iterator[ListedObject]:
        for key in self.list_keys(under):
            try:
                st = self.path_of(key).stat()
            except FileNotFoundError:
                continue  # deleted since the directory was read
            except OSError as exc:
                raise StoreError(f"{self.describe(key)}: cannot stat: {exc.strerror}") from None
            yield ListedObject(key, st.st_size, f"{st.st_mtime_ns}.{st.st_ino}")

    def list_folders(self, under: str = "") -> list[str]:
        start = self._base() / under if under else self._base()
        try:
            with os.scandir(start) as entries:
                return sorted(e.name for e in entries if e.is_dir(follow_symlinks=False))
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise StoreError(f"{self.name}: cannot list {start}: {exc.strerror}") from None

    def delete(self, key: str) -> None:
        try:
            self.path_of(key).unlink(missing_ok=True)
        except OSError as exc:
            raise StoreError(f"{self.describe(key)}: cannot delete: {exc.strerror}") from None

    def cleanup_partials(self, older_than_seconds: float, keep: Collection[str] = ()) -> int:
        removed = 0
        base = self._base()
        if not base.exists():
            return 0
        cutoff = time.time() - older_than_seconds
        kept = [self.path_of(k) for k in keep]
        for dirpath, _dirs, files in os.walk(base):
            for f in files:
                p = Path(dirpath) / f
                if (PARTIAL_MARK in f and not any(_partial_of(p, k) for k in kept)
                        and p.stat().st_mtime < cutoff):
                    p.unlink(missing_ok=True)
                    removed += 1
        return removed

    def remove_partials(self, key_prefix: str) -> int:
        start = self.path_of(key_prefix)
        try:
            found = [p for p in start.parent.iterdir() if _partial_of(p, start)]
            for p in found:
                p.unlink(missing_ok=True)
        except FileNotFoundError:
            return 0
        except OSError as exc:
            raise StoreError(f"{self.describe(key_prefix)}*: cannot remove partial files: "
                             f"{exc.strerror}") from None
        return len(found)

    def locked_until(self, key: str) -> datetime | None:
        return None  # a plain directory has no immutability of its own

    def check(self) -> None:
        base = self._base()
        try:
            base.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"{self.name}: cannot create {base}: {exc.strerror}") from None
        if not os.access(base, os.W_OK):
            raise StoreError(f"{self.name}: {base} is not writable")
