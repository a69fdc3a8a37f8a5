"""Catalog records of what a backup contains against its app's history, and of held
backups: the contents check's findings on each new backup, the backup held for them (which
retention keeps until an admin releases it), and the alert opened for them, in one
transaction; the release, which resolves the alert once no hold of the app remains."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dr_assets.core.catalog.alerts import OPEN, RESOLVE, insert_alert
from dr_assets.core.catalog.connection import CatalogConnection
from dr_assets.core.catalog.rows import AlertRow, ContentsRow, HoldRow
from dr_assets.core.catalog.status_sql import VALID

# An app's verified, valid backups before a moment, newest first: read newest first from
# backups_app_started (app, started_at DESC), stopping after `limit` that qualify.
CONTENTS_HISTORY = (
    "SELECT backup_id, started_at, raw_bytes, stored_bytes, row_counts, anomalies"
    " FROM dr.backups"
    f" WHERE app = %(app)s AND status IN {VALID} AND verified AND NOT check_failed"
    " AND started_at < %(before)s AND backup_id <> %(backup_id)s"
    " ORDER BY started_at DESC, backup_id DESC LIMIT %(limit)s"
)
HOLD_COLUMNS = ("backup_id, app, started_at, held, held_reason, held_at, held_by, released_at,"
                " released_by, release_reason")


@dataclass(frozen=True)
class AlertToOpen:
    app: str
    kind: str
    severity: str
    message: str


@dataclass(frozen=True)
class Release:
    """What releasing a hold did."""

    hold: HoldRow
    holds_left: int  # the app's backups still held
    resolved_alert: AlertRow | None  # the app's alert, resolved by this release


class HoldRecords(CatalogConnection):
    def contents_history(self, app: str, before: datetime, backup_id: str, limit: int
                         ) -> list[ContentsRow]:
        """The app's last `limit` verified valid backups started before `before` (not
        `backup_id` itself), newest first."""
        return self.fetch(ContentsRow, CONTENTS_HISTORY, {
            "app": app, "before": before, "backup_id": backup_id, "limit": limit})

    def flag_contents(self, backup_id: str, findings: Sequence[dict[str, Any]],
                      hold: tuple[str, str, str] | None = None,
                      alert: AlertToOpen | None = None) -> int | None:
        """Record a backup's findings ([] for none), hold (backup_id, reason, by) unless it
        is held already, and open the alert, in one transaction; returns the alert's id
        when it was opened now (None when one was open already, or none was asked)."""
        with self.cursor() as cur:
            cur.execute("UPDATE dr.backups SET anomalies = %s WHERE backup_id = %s",
                        (json.dumps(list(findings)), backup_id))
            if hold is not None:
                held_id, reason, by = hold
                cur.execute("UPDATE dr.backups SET held = true, held_reason = %s,"
                            " held_at = now(), held_by = %s WHERE backup_id = %s AND NOT held",
                            (reason, by, held_id))
            if alert is None:
                return None
            return insert_alert(cur, alert.app, alert.kind, alert.severity, alert.message)

    def backup_findings(self, backup_id: str) -> list[dict[str, Any]] | None:
        """The contents check's findings on a backup; None when it was not checked."""
        with self.cursor() as cur:
            cur.execute("SELECT anomalies FROM dr.backups WHERE backup_id = %s", (backup_id,))
            row = cur.fetchone()
        return None if row is None or row["anomalies"] is None else list(row["anomalies"])

    def holds(self, app: str | None = None, held_only: bool = True) -> list[HoldRow]:
        """Held backups (of one app), newest first; with held_only False, released ones too."""
        return self.fetch(
            HoldRow,
            f"SELECT {HOLD_COLUMNS} FROM dr.backups WHERE (%(app)s::text IS NULL OR app = %(app)s)"
            " AND (held OR (NOT %(held_only)s AND released_at IS NOT NULL))"
            " ORDER BY started_at DESC",
            {"app": app, "held_only": held_only})

    def is_held(self, backup_id: str) -> bool:
        with self.cursor() as cur:
            cur.execute("SELECT held FROM dr.backups WHERE backup_id = %s", (backup_id,))
            row = cur.fetchone()
        return bool(row and row["held"])

    def release_hold(self, backup_id: str, by: str, reason: str, alert_kind: str
                     ) -> Release | None:
        """Release a held backup (None when it is not held or does not exist); once no
        backup of its app is held, its open `alert_kind` alert is resolved, in the same
        transaction."""
        with self.cursor() as cur:
            cur.execute("UPDATE dr.backups SET held = false, released_at = now(),"
                        " released_by = %s, release_reason = %s"
                        f" WHERE backup_id = %s AND held RETURNING {HOLD_COLUMNS}",
                        (by, reason, backup_id))
            row = cur.fetchone()
            if row is None:
                return None
            hold = HoldRow.from_record(row)
            cur.execute("SELECT count(*) AS n FROM dr.backups WHERE app = %s AND held",
                        (hold.app,))
            left_row = cur.fetchone()
            left = int(left_row["n"]) if left_row else 0
            resolved = None
            if left == 0:
                cur.execute(f"{RESOLVE} WHERE app = %s AND kind = %s AND status = {OPEN}"
                            " RETURNING *", (hold.app, alert_kind))
                found = cur.fetchone()
                resolved = AlertRow.from_record(found) if found else None
            return Release(hold, left, resolved)
