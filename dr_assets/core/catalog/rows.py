"""The catalog's rows as frozen dataclasses: what every catalog read returns."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

# Integrity states of an app's backups.
INTEGRITY_OK = "ok"  # newest checked backup passed, no retained backup failed
INTEGRITY_OLDER_FAILED = "older_failed"
INTEGRITY_NEWEST_FAILED = "newest_failed"
INTEGRITY_UNKNOWN = "unknown"  # nothing checked yet


@dataclass(frozen=True)
class DrillFact:
    passed: bool
    finished_at: datetime
    restore_seconds: float | None


@dataclass(frozen=True)
class AppFacts:
    """What the catalog knows about one app, as plain data."""

    app: str
    newest_verified_at: datetime | None
    attempts_7d: int
    successes_7d: int
    integrity: str
    last_drill: DrillFact | None
    failures_24h: int = 0
    newest_status: str | None = None
    stored_bytes: int = 0
    backup_count: int = 0
