"""Which backups are due in a stretch of time: a window's backup is due at its end plus the
app's start offset, and a launcher that has looked at (after, until] launches, per app, the
newest window due in it (after an outage, one catch-up backup per app, not one per missed
window)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from dr_assets.core.policy import AppPolicy
from dr_assets.core.runs import PARTITION_FMT, backup_window
from dr_assets.core.scheduling.offsets import start_offset


@dataclass(frozen=True)
class DueBackup:
    app: str
    every_hours: int
    partition: str          # the window's key, as the cadence's Dagster partitions name it
    due_at: datetime        # the window's end plus the app's offset


def due_backup(policy: AppPolicy, after: datetime, until: datetime) -> DueBackup | None:
    """The newest backup of POLICY due in (AFTER, UNTIL] (aware datetimes), or None."""
    offset = start_offset(policy)
    window = backup_window(policy, until - offset)
    if window is None:
        return None
    start, end = window
    due_at = end + offset
    if due_at <= after:
        return None
    return DueBackup(policy.name, policy.every_hours, start.strftime(PARTITION_FMT), due_at)


def due_backups(policies: Iterable[AppPolicy], after: datetime, until: datetime
                ) -> list[DueBackup]:
    """Every app's newest backup due in (AFTER, UNTIL], earliest due first."""
    found = [d for d in (due_backup(p, after, until) for p in policies) if d is not None]
    return sorted(found, key=lambda d: (d.due_at, d.app))


FIRST_LOOK = timedelta(minutes=1)   # a launcher with no history looks back only this far
LONGEST_LOOK = timedelta(days=7)    # and after a longer outage, this far: one window each


def look_after(cursor: str | None, now: datetime) -> datetime:
    """Where a launcher's look resumes: the moment it last looked up to (its cursor, an ISO
    8601 time), never further back than LONGEST_LOOK; FIRST_LOOK before NOW when it has
    never looked (a new deployment launches nothing from the past)."""
    if not cursor:
        return now - FIRST_LOOK
    try:
        last = datetime.fromisoformat(cursor)
    except ValueError:
        return now - FIRST_LOOK
    if last.tzinfo is None:
        last = last.replace(tzinfo=UTC)
    return max(min(last, now), now - LONGEST_LOOK)
