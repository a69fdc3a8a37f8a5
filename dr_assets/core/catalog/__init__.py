"""The SQL catalog (schema ``dr``): an index of backups, copies, checks, restores, drills
and alerts. The stores are the truth; this index is kept in step on every write and can
be rebuilt from the manifests by ``drctl catalog sync``.
"""

from __future__ import annotations

from dr_assets.core.catalog.alerts import AlertRecords
from dr_assets.core.catalog.audit import AuditRecords
from dr_assets.core.catalog.backups import BackupRecords
from dr_assets.core.catalog.drills import DrillRecords
from dr_assets.core.catalog.evidence import EvidenceRecords
from dr_assets.core.catalog.facts import HealthFacts
from dr_assets.core.catalog.forecasts import ForecastRecords
from dr_assets.core.catalog.history import HistoryRecords
from dr_assets.core.catalog.holds import HoldRecords
from dr_assets.core.catalog.liveness import RunLiveness
from dr_assets.core.catalog.outbox import OutboxRecords
from dr_assets.core.catalog.purge import PurgeRecords
from dr_assets.core.catalog.reports import Reports
from dr_assets.core.catalog.restores import RestoreRecords
from dr_assets.core.catalog.rows import BackupRow
from dr_assets.core.catalog.synced import SyncedManifestRecords
from dr_assets.core.catalog.tickets import TicketRecords
from dr_assets.core.catalog.timeline import BackupTimelineRecords
from dr_assets.core.catalog.wal import WalRecords


class Catalog(BackupRecords, RestoreRecords, DrillRecords, AlertRecords, AuditRecords,
              HealthFacts, Reports, EvidenceRecords, BackupTimelineRecords, WalRecords,
              SyncedManifestRecords, RunLiveness, PurgeRecords, HoldRecords, TicketRecords,
              HistoryRecords, ForecastRecords, OutboxRecords):
    """One object for the whole catalog; each record family lives in its own module."""


__all__ = ["BackupRow", "Catalog"]
