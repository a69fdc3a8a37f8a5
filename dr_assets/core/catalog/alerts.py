"""Catalog records of alerts: at most one open alert per (app, kind)."""

from __future__ import annotations

from typing import Any

from dr_assets.core.catalog.connection import CatalogConnection
from dr_assets.core.catalog.rows import AlertCounts, AlertRow
from dr_assets.core.statuses import AlertStatus

OPEN = f"'{AlertStatus.OPEN}'"  # as the partial indexes alerts_one_open and alerts_open have it
RESOLVE = f"UPDATE dr.alerts SET status = '{AlertStatus.RESOLVED}', resolved_at = now()"


def insert_alert(cur: Any, app: str, kind: str, severity: str, message: str) -> int | None:
    """Open the alert in `cur`'s transaction unless one is already open for (app, kind);
    returns the new id."""
    cur.execute(
        "INSERT INTO dr.alerts (app, kind, severity, status, message)"
        f" VALUES (%s, %s, %s, {OPEN}, %s)"
        f" ON CONFLICT (app, kind) WHERE status = {OPEN} DO NOTHING RETURNING id",
        (app, kind, severity, message),
    )
    row = cur.fetchone()
    return int(row["id"]) if row else None


class AlertRecords(CatalogConnection):
    def open_alerts(self) -> list[AlertRow]:
        return self.list_alerts(active=True)

    def alert_counts(self) -> AlertCounts:
        """Open alerts, and how many of them are critical (from the open alerts' index)."""
        rows = self.fetch(AlertCounts, "SELECT count(*) AS active, count(*) FILTER (WHERE"
                          f" severity = 'critical') AS critical FROM dr.alerts WHERE status = {OPEN}")
        return rows[0]

    def list_alerts(self, active: bool | None = None, limit: int = 200) -> list[AlertRow]:
        return self.fetch(
            AlertRow,
            f"SELECT * FROM dr.alerts WHERE (%s::boolean IS NULL OR (status = {OPEN}) = %s)"
            " ORDER BY opened_at DESC, id DESC LIMIT %s",
            (active, active, limit),
        )

    def open_alert(self, app: str, kind: str, severity: str, message: str) -> int | None:
        """Opens the alert unless one is already open for (app, kind); returns the new id."""
        with self.cursor() as cur:
            return insert_alert(cur, app, kind, severity, message)

    def resolve_alert(self, alert_id: int) -> None:
        with self.cursor() as cur:
            cur.execute(f"{RESOLVE} WHERE id = %s AND status = {OPEN}", (alert_id,))

    def acknowledge_alert(self, alert_id: int, who: str) -> AlertRow | None:
        with self.cursor() as cur:
            cur.execute(
                "UPDATE dr.alerts SET acknowledged_at = coalesce(acknowledged_at, now()),"
                " acknowledged_by = coalesce(acknowledged_by, %s) WHERE id = %s RETURNING *",
                (who, alert_id),
            )
            row = cur.fetchone()
            return AlertRow.from_record(row) if row else None

    def mark_delivered(self, alert_id: int, error: str | None) -> None:
        with self.cursor() as cur:
            cur.execute(
                "UPDATE dr.alerts SET delivered_at = CASE WHEN %s::text IS NULL THEN now()"
                " ELSE delivered_at END, delivery_error = %s WHERE id = %s",
                (error, error, alert_id),
            )
