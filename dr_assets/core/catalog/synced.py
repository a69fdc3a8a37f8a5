"""What catalog sync last saw of each backup in the stores' listings (dr.synced_manifests),
beside whether dr.backups holds the backup as valid: the state that lets a sync read only
new or changed manifests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from psycopg2.extras import Json, execute_values

from dr_assets.core.catalog.app_scan import apps_of
from dr_assets.core.catalog.connection import CatalogConnection
from dr_assets.core.catalog.rows import Row
from dr_assets.core.catalog.status_sql import VALID


@dataclass(frozen=True)
class SyncedManifest(Row):
    """One backup as a sync left it: per store the listed `<size>:<version>` of its manifest,
    the stored objects of a good copy with their sizes, and the stores holding one."""

    backup_id: str
    app: str
    manifests: dict[str, str]
    objects: dict[str, int]
    copies: list[str]


@dataclass(frozen=True)
class SeenBackup(Row):
    """A backup of an app the catalog knows: `valid` when dr.backups holds it completed or
    degraded; `synced` what the last sync saw of it, None when no sync has seen it since."""

    backup_id: str
    valid: bool
    synced: SyncedManifest | None


class SyncedManifestRecords(CatalogConnection):
    def synced_apps(self) -> set[str]:
        """Every app with a backup row or a synced row: where a sync must look even when no
        store holds a folder of it any more."""
        with self.cursor() as cur:
            cur.execute(f"WITH RECURSIVE {apps_of('backups')}, {apps_of('synced_manifests')}"
                        " SELECT app FROM backups_apps WHERE app IS NOT NULL"
                        " UNION SELECT app FROM synced_manifests_apps WHERE app IS NOT NULL")
            return {r["app"] for r in cur.fetchall()}

    def seen_backups(self, app: str) -> dict[str, SeenBackup]:
        """The app's valid backups and its synced rows, by backup id."""
        with self.cursor() as cur:
            cur.execute(
                "SELECT backup_id, b.valid, s.manifests, s.objects, s.copies FROM"
                f" (SELECT backup_id, true AS valid FROM dr.backups WHERE app = %s"
                f"  AND status IN {VALID}) b"
                " FULL JOIN (SELECT backup_id, manifests, objects, copies"
                "  FROM dr.synced_manifests WHERE app = %s) s USING (backup_id)",
                (app, app),
            )
            rows = cur.fetchall()
        return {
            r["backup_id"]: SeenBackup(
                r["backup_id"], bool(r["valid"]),
                None if r["manifests"] is None else SyncedManifest(
                    r["backup_id"], app, r["manifests"], r["objects"], list(r["copies"])))
            for r in rows
        }

    def record_synced(self, rows: Sequence[SyncedManifest]) -> None:
        if not rows:
            return
        with self.cursor() as cur:
            execute_values(
                cur,
                "INSERT INTO dr.synced_manifests (backup_id, app, manifests, objects, copies)"
                " VALUES %s ON CONFLICT (backup_id) DO UPDATE SET app = EXCLUDED.app,"
                " manifests = EXCLUDED.manifests, objects = EXCLUDED.objects,"
                " copies = EXCLUDED.copies, synced_at = now()",
                [(r.backup_id, r.app, Json(r.manifests), Json(r.objects), r.copies)
                 for r in rows],
            )

    def forget_synced(self, backup_ids: Sequence[str]) -> None:
        """Backups no reachable store lists any more: the next sync that finds one reads it."""
        if not backup_ids:
            return
        with self.cursor() as cur:
            cur.execute("DELETE FROM dr.synced_manifests WHERE backup_id = ANY(%s)",
                        (list(backup_ids),))
