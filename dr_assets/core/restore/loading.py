"""Getting a decoded backup into pg_restore: streamed through a pipe (the default, no
plaintext on disk), or spooled to a private file first so `pg_restore --jobs N` can load
tables and build indexes in parallel (opt-in: it needs free space for the whole
uncompressed dump and holds the decrypted dump on disk for the restore's duration).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from dr_assets.core.copies.locate import iter_stored
from dr_assets.core.errors import RestoreError
from dr_assets.core.format.manifest import BackupManifest
from dr_assets.core.format.stream import BackupDecoder
from dr_assets.core.pg.command import ToolFailed, run, spawned
from dr_assets.core.stores.base import Store

SPOOL_HEADROOM = 256 << 20  # free space left over after the spool file, at least
STREAMED = "stream"


def decoded(store: Store, manifest: BackupManifest, data_key: bytes) -> Iterator[bytes]:
    """The backup's pg_dump archive, read from `store`, authenticated chunk by chunk,
    decrypted and inflated; raises IntegrityError on a bad copy."""
    decoder = BackupDecoder(data_key, store.describe(manifest.object_key))
    for block in iter_stored(store, manifest):
        yield from decoder.write(block)
    yield from decoder.finish()


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


def load(args: list[str], env: dict[str, str], store: Store, manifest: BackupManifest,
         data_key: bytes, jobs: int = 1, spool_dir: Path | None = None) -> str:
    """Run pg_restore (`args` without an input) on the backup; returns how it was loaded.
    With jobs > 1 and room in `spool_dir` (default: the system temp dir) the dump is
    spooled and restored in parallel, else streamed."""
    try:
        if jobs > 1:
            directory = spool_dir or Path(tempfile.gettempdir())
            if spool_room(directory, manifest):
                _spool_and_restore(args, env, store, manifest, data_key, jobs, directory)
                return loaded_with(jobs)
        stream_into_pg_restore(args, env, store, manifest, data_key)
    except ToolFailed as failed:
        raise RestoreError(str(failed)) from failed
    return STREAMED


def _spool_and_restore(args: list[str], env: dict[str, str], store: Store,
                       manifest: BackupManifest, data_key: bytes, jobs: int,
                       directory: Path) -> None:
    fd, name = tempfile.mkstemp(prefix=f".{manifest.backup_id}.", suffix=".dump", dir=directory)
    spool = Path(name)  # mkstemp: mode 0600, a fresh name; removed whatever happens
    try:
        with os.fdopen(fd, "wb") as out:
            for raw in decoded(store, manifest, data_key):
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


def stream_into_pg_restore(
    args: list[str], env: dict[str, str], store: Store, manifest: BackupManifest, data_key: bytes
) -> None:
    """pg_restore reading the decoded dump from its stdin, a 1 MiB pipe (widen_pipe)."""
    with spawned(args, env=env, stdin=True) as pg_restore:
        pg_restore.feed(decoded(store, manifest, data_key))
