"""Reading an archive's table of contents from the head of a stored copy, and restoring a
selection of it in the same single read: what pg_restore --list took of the stream is held
in memory and handed to the restoring pg_restore ahead of the rest.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from dr_assets.core.errors import RestoreError
from dr_assets.core.format.manifest import BackupManifest
from dr_assets.core.pg.command import through
from dr_assets.core.restore.loading import CopyRead, Dump
from dr_assets.core.restore.selection import Selection, SelectionPlan, plan_selection
from dr_assets.core.restore.toc import ArchiveToc, parse_toc

# pg_restore prints names in the archive's encoding: kept byte for byte whatever it is.
ENCODING, ERRORS = "utf-8", "surrogateescape"


def _pieces(copy: CopyRead) -> Generator[bytes, None, None]:
    """The copy's stream as a generator: closing it closes the store's stream too."""
    yield from copy


class ReadAhead:
    """A copy read once, its head looked at first. Each chunk of the head was authenticated
    before it was handed on; the whole copy's SHA-256 is checked only when the stream is
    read to its end, so a look at the head alone proves nothing of the rest (nor fails it)."""

    def __init__(self, copy: CopyRead) -> None:
        self.copy = copy
        self._rest = _pieces(copy)
        self.head: list[bytes] = []

    @property
    def manifest(self) -> BackupManifest:
        return self.copy.manifest

    def taking(self) -> Iterator[bytes]:
        """The stream from where the head ends; each piece taken joins the head. Dropped
        half-way, it leaves the copy open for the rest (a for loop, unlike `yield from`,
        does not close what it iterates)."""
        for piece in self._rest:
            self.head.append(piece)
            yield piece

    def __iter__(self) -> Iterator[bytes]:
        """The whole stream: the head, then the rest, once."""
        head, self.head = self.head, []
        yield from head
        yield from self._rest

    def close(self) -> None:
        """Stop reading the copy (the store's stream is closed)."""
        self._rest.close()


def read_toc(dump: ReadAhead, pg_restore: str) -> ArchiveToc:
    """The archive's table of contents. `pg_restore --list` reads the stream until it has
    the table and exits; the script pass reads the same head again, from memory."""
    listing = through([pg_restore, "--list", "--verbose"], dump.taking(), partial_input=True)
    script = through([pg_restore, "--schema-only", "--verbose", "--file=-"], list(dump.head),
                     partial_input=True)
    return parse_toc(listing.decode(ENCODING, ERRORS), script.decode(ENCODING, ERRORS))


@dataclass
class SelectedCopy:
    """A copy about to be restored in part: its head read, the plan made from it."""

    dump: ReadAhead
    plan: SelectionPlan

    @classmethod
    def open(cls, copy: CopyRead, selection: Selection, pg_restore: str) -> SelectedCopy:
        """Raises RestoreError for names the archive does not have (nothing created yet),
        IntegrityError or StoreError for a copy that cannot be read."""
        dump = ReadAhead(copy)
        try:
            toc = read_toc(dump, pg_restore)
            return cls(dump, plan_selection(toc, selection, copy.manifest.backup_id))
        except BaseException:
            dump.close()
            raise


@contextmanager
def what_to_load(copy: CopyRead, selected: SelectedCopy | None
                 ) -> Iterator[tuple[Dump, list[str]]]:
    """What pg_restore reads and its extra arguments: the whole copy, or the copy read ahead
    with a --use-list file of the session's own naming the plan's entries in archive order
    (removed afterwards, and the copy closed)."""
    if selected is None:
        yield copy, []
        return
    fd, name = tempfile.mkstemp(prefix=".drctl-", suffix=".list")
    try:
        with os.fdopen(fd, "w", encoding=ENCODING, errors=ERRORS) as out:
            out.write(selected.plan.list_file())
        yield selected.dump, ["--use-list", name]
    except RestoreError as exc:
        raise RestoreError(
            f"{exc} (restoring a selection: a value may name an object left out, as a "
            "regclass or regtype column does; select what it names too, or restore the whole "
            "database)") from exc
    finally:
        Path(name).unlink(missing_ok=True)
        selected.dump.close()
