"""Getting a stored copy into pg_restore in the one pass that also proves it intact:
streamed through a pipe (the default, no plaintext on disk), or spooled to a private file
first so `pg_restore --jobs N` can load tables and build indexes in parallel (opt-in: it
needs free space for the whole uncompressed dump and holds the decrypted dump on disk for
the restore's duration).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Protocol

from dr_assets.core.copies.locate import checksum_mismatch, iter_stored
from dr_assets.core.errors import IntegrityError, RestoreError
from dr_assets.core.format.manifest import BackupManifest
from dr_assets.core.format.stream import BackupDecoder
from dr_assets.core.pg.command import ToolFailed, run, spawned
from dr_assets.core.stores.base import Store

SPOOL_HEADROOM = 256 << 20  # free space left over after the spool file, at least
STREAMED = "stream"


class CopyRead:
    """The one pass a restore makes over a stored copy, as the backup's pg_dump archive:
    each chunk is authenticated before its plaintext is handed on, and the whole copy's
    size and SHA-256 (of the stored bytes as read) must match the manifest before the
    final chunk's plaintext is. A bad copy raises IntegrityError naming it."""

    def __init__(self, store: Store, manifest: BackupManifest, data_key: bytes) -> None:
        self.store = store
        self.manifest = manifest
        self._data_key = data_key
        self.bytes_read = 0  # from the store, a pass cut short included

    def __iter__(self) -> Iterator[bytes]:
        m = self.manifest
        decoder = BackupDecoder(self._data_key, self.store.describe(m.object_key))
        try:
            for block in iter_stored(self.store, m):
                self.bytes_read += len(block)
                yield from decoder.write(block)
            last = decoder.finish()
        except IntegrityError as exc:
            raise self._failed(exc) from None
        mismatch = checksum_mismatch(m, self.store.name, decoder.sha256, decoder.stored_bytes)
        if mismatch is not None:
            raise IntegrityError(mismatch)
        try:
            yield from last
        except IntegrityError as exc:
            raise self._failed(exc) from None

    def _failed(self, exc: IntegrityError) -> IntegrityError:
        return IntegrityError(f"backup {self.manifest.backup_id} failed its checksum on "
                              f"{self.store.name}: {exc}")


class Dump(Protocol):
    """What is loaded: a copy read once (a CopyRead, or one whose head was read first)."""

    @property
    def manifest(self) -> BackupManifest: ...

    def __iter__(self) -> Iterator[bytes]: ...


def loaded_with(jobs: int) -> str:
    return STREAMED if jobs <= 1 else f"parallel ({jobs} jobs, spooled)"


def check_spool_dir(directory: Path | None) -> None:
    if directory is not None and not directory.is_dir():
        raise RestoreError(f"spool directory {directory} does not exist: create it or leave "
                           "--spool-dir out to use the system temp directory")


def spool_room(directory: Path, manifest: BackupManifest) -> bool:
    """Whether `directory` can hold the uncompressed dump with headroom to spare."""
    need = manifest.raw_bytes + max(manifest.raw_bytes // 10, SPOOL_HEADROOM)
    return shutil.disk_usage(directory).free >= need


def load(args: list[str], env: dict[str, str], copy: Dump, jobs: int = 1,
         spool_dir: Path | None = None, part: bool = False) -> str:
    """Run pg_restore (`args` without an input) on the copy; returns how it was loaded.
    With jobs > 1 and room in `spool_dir` (default: the system temp dir) the dump is
    spooled and restored in parallel, else streamed. `part`: args restore only some of the
    archive's entries (--use-list)."""
    try:
        if jobs > 1:
            directory = spool_dir or Path(tempfile.gettempdir())
            if spool_room(directory, copy.manifest):
                _spool_and_restore(args, env, copy, jobs, directory)
                return loaded_with(jobs)
        stream_into_pg_restore(args, env, copy, part)
    except ToolFailed as failed:
        raise RestoreError(str(failed)) from failed
    return STREAMED


def _spool_and_restore(args: list[str], env: dict[str, str], copy: Dump, jobs: int,
                       directory: Path) -> None:
    fd, name = tempfile.mkstemp(prefix=f".{copy.manifest.backup_id}.", suffix=".dump",
                                dir=directory)
    spool = Path(name)  # mkstemp: mode 0600, a fresh name; removed whatever happens
    try:
        # Written while the copy is hashed: pg_restore runs only on a copy proven whole.
        with os.fdopen(fd, "wb") as out:
            for raw in copy:
                out.write(raw)
        # Two passes: every row is in before any post-data item (index, trigger, constraint)
        # exists. In one pass, pg_restore --jobs on an archive written to a pipe may create a
        # partitioned table's trigger before its partitions' rows are loaded, and the
        # trigger then fires on restored rows.
        run([*args, "--jobs", str(jobs), "--section=pre-data", "--section=data", str(spool)],
            env=env)
        run([*args, "--jobs", str(jobs), "--section=post-data", str(spool)], env=env)
    finally:
        spool.unlink(missing_ok=True)


def stream_into_pg_restore(args: list[str], env: dict[str, str], copy: Iterable[bytes],
                           part: bool = False) -> None:
    """pg_restore reading the decoded dump from its stdin, a 1 MiB pipe (widen_pipe). It
    never gets the archive's end from a copy that fails its checksum; the target it has
    filled by then is the caller's to drop. Restoring a `part`, pg_restore stops reading
    after the last entry it was given: the rest of the copy is read all the same, so that
    its SHA-256 is checked before the restore is done."""
    pieces = iter(copy)
    with spawned(args, env=env, stdin=True, partial_input=part) as pg_restore:
        pg_restore.feed(pieces)
    for _ in pieces:  # what pg_restore did not need, read only to prove the copy whole
        pass
