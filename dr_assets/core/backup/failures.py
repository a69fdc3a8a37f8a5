"""How a failed backup (a dump or a base backup) is recorded and raised: its catalog row
marked failed with one sentence, and the caller given a DRError naming the backup."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from dr_assets.core.errors import BackupError, DRError


def failure_message(exc: BaseException) -> str:
    """A DRError's own sentence, else the exception's type and text; an interrupt as such."""
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    return str(exc) if isinstance(exc, DRError) else f"{type(exc).__name__}: {exc}"


@contextmanager
def recorded_failure(record: Callable[[str, datetime], None], what: str) -> Iterator[None]:
    """Run the block; when it fails, `record(message, when)` first, then re-raise: a
    DRError (or an interrupt) as it is, anything else as a BackupError naming `what`."""
    try:
        yield
    except BaseException as exc:
        message = failure_message(exc)
        record(message, datetime.now(UTC))
        if isinstance(exc, DRError) or not isinstance(exc, Exception):
            raise
        raise BackupError(f"{what} failed: {message}") from exc
