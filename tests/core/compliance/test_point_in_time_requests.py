"""Point-in-time restore requests are restore requests in the evidence: the report lists
them with the app and the moment asked for, beside the backup restores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dr_assets.core.catalog import Catalog
from dr_assets.core.compliance.report import RestoreRequest
from tests.support.pg import PG_URL


def test_point_in_time_requests_are_listed_with_their_moment(catalog_db: str) -> None:
    catalog = Catalog(f"{PG_URL}/{catalog_db}")
    catalog.audit("alice", "admin", "restoreToPointInTime",
                  {"app": "shop", "target_database": "shop_0600",
                   "to_time": "2026-11-20T06:00:00Z"}, "RunLaunched")
    catalog.audit("bob", "admin", "restoreBackup",
                  {"backup_id": "shop-20261120T000000Z-0001", "target_database": "shop_b"},
                  "RunLaunched")
    catalog.audit("carol", "operator", "createBackup", {"app": "shop"}, "RunLaunched")
    now = datetime.now(UTC)
    rows = catalog.evidence_restore_requests(now - timedelta(hours=1), now + timedelta(hours=1))
    requests = [RestoreRequest.from_row(r) for r in rows]
    assert [(q.actor, q.source, q.target_database) for q in requests] == [
        ("alice", "shop at 2026-11-20T06:00:00Z", "shop_0600"),
        ("bob", "shop-20261120T000000Z-0001", "shop_b"),
    ]
    assert requests[0].recovery_target == "2026-11-20T06:00:00Z" and requests[1].app is None
