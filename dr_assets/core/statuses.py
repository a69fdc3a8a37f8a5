"""The status words of backups, copies, restores, drills, validation checks, alerts, health,
compliance windows and audit entries, declared once: manifests and the catalog store them,
the API shows them.

Plain str constants, not enum members: they travel into Dagster metadata and run outputs,
whose serializer refuses any enum it was not told about, str-based or not.
"""

from __future__ import annotations

from typing import Final


class BackupStatus:
    """A backup, in its manifest and in dr.backups."""

    RUNNING: Final = "running"
    COMPLETED: Final = "completed"
    DEGRADED: Final = "degraded"  # completed, but some destination holds no copy
    FAILED: Final = "failed"
    DELETED: Final = "deleted"  # removed by retention, or found in no store by sync


# Backups that can be restored.
VALID_STATUSES: Final = (BackupStatus.COMPLETED, BackupStatus.DEGRADED)
# A deleted backup was valid until it was removed: it still counts for the time it covered.
ONCE_VALID_STATUSES: Final = (*VALID_STATUSES, BackupStatus.DELETED)


class CopyStatus:
    """One destination's copy of a backup."""

    OK: Final = "ok"
    FAILED: Final = "failed"


class RestoreStatus:
    RUNNING: Final = "running"
    SUCCEEDED: Final = "succeeded"
    FAILED: Final = "failed"


class DrillStatus:
    RUNNING: Final = "running"
    PASSED: Final = "passed"
    FAILED: Final = "failed"


class CheckStatus:
    """A validation check in a drill."""

    PASSED: Final = "passed"
    FAILED: Final = "failed"
    SKIPPED: Final = "skipped"  # nothing to compare with: no answer recorded in the backup


class AlertStatus:
    OPEN: Final = "open"
    RESOLVED: Final = "resolved"


class HealthStatus:
    """An app's or the estate's health, from its score."""

    HEALTHY: Final = "HEALTHY"
    DEGRADED: Final = "DEGRADED"
    CRITICAL: Final = "CRITICAL"


class Protection:
    """What an app's recovery points are: its server's WAL (point-in-time) or its dumps."""

    WAL: Final = "wal"
    DUMPS: Final = "dumps"


class Integrity:
    """What the checksum verifications of an app's backups say."""

    OK: Final = "ok"  # the newest checked backup passed, no retained backup failed
    OLDER_FAILED: Final = "older_failed"
    NEWEST_FAILED: Final = "newest_failed"
    UNKNOWN: Final = "unknown"  # nothing checked yet


class WindowStatus:
    """A backup window of a compliance report."""

    COVERED: Final = "covered"  # a verified backup started inside the window: the RPO was met
    MISSED: Final = "missed"  # the window is over and no verified backup started inside it
    PENDING: Final = "pending"  # the window is still open and has no verified backup yet


class AuditResult:
    """Results of audited actions that are not a GraphQL result type's name."""

    OK: Final = "ok"
    REFUSED: Final = "refused"
