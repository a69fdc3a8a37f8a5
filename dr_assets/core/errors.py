"""One exception tree for everything a user of the DR engine can run into."""

from __future__ import annotations


class DRError(Exception):
    """Base of every expected failure; the message is a sentence a user can act on."""


class ConfigError(DRError):
    """dr.toml (or the environment it reads) is wrong."""


class MasterKeyError(DRError):
    """A master key is missing, malformed or unknown."""


class ToolError(DRError):
    """pg_dump, pg_restore or psql could not be found or failed."""


class StoreError(DRError):
    """A storage destination failed to write, read, list or delete."""


class IntegrityError(DRError):
    """Stored bytes do not match what the manifest promises."""


class BackupError(DRError):
    """A backup could not be taken."""


class BackupNotFound(DRError):
    """No backup with that id exists in the catalog or the stores."""


class RestoreError(DRError):
    """A restore could not be completed; what it created has been removed."""


class ValidationFailed(DRError):
    """A restored database gave another answer to a validation check than it should."""


class InvalidName(DRError):
    """An identifier (app, backup id, database name) is malformed or hostile."""


class CatalogError(DRError):
    """The catalog database is unreachable or inconsistent."""


class LockBusy(DRError):
    """Another operation holds the lock this one needs."""


class ReportError(DRError):
    """A compliance report was asked for an impossible period or could not be written."""


class WalError(DRError):
    """Continuous protection: the server cannot stream WAL, or the archive cannot serve it."""


class WalMissing(WalError):
    """No store holds a good copy of a WAL file."""


class HoldError(DRError):
    """A held backup cannot be released as asked (not held, unknown, no reason given)."""


class TicketRefused(DRError):
    """A run that writes a database or deletes a backup came without a valid launch ticket."""
