"""The contents check on real backups of a real database (PostgreSQL, SeaweedFS, the local
store): 80 % of a table deleted between two backups opens an alert naming the table and both
backups and holds the earlier one, which retention then keeps however old; an admin's
release over the real API with a real JWT (a viewer's and an operator's refused, every call
audited) lets retention delete it. Random data where there was text trips the ratio rule."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from dr_assets.core.access.tokens import mint_token
from dr_assets.core.anomalies.check import BACKUP_ANOMALY
from dr_assets.core.anomalies.rules import Rule
from dr_assets.core.backup.take import run_backup
from dr_assets.core.catalog import Catalog
from dr_assets.core.copies.verify import verify_backup
from dr_assets.core.retention.apply import apply_retention
from dr_assets.core.retention.purge import purge_deleted_rows
from dr_assets.core.runtime import DRRuntime
from dr_assets.core.statuses import BackupStatus
from tests.support.env import DREnv, verified_backups
from tests.support.pg import PG_URL, run_sql
from tests.support.stack import JWT_SECRET, ApiServer, start_api

RELEASE = """mutation($id: String!, $reason: String!) {
  releaseBackupHold(backupId: $id, reason: $reason) { __typename
    ... on BackupHoldReleased { backupId app alertResolved message }
    ... on NotAllowed { message } ... on BackupNotFound { message }
    ... on InvalidInput { message } } }"""
HELD = "query($app: String) { backups(app: $app, first: 5) { edges { node { backupId held heldReason } } } }"


def _with_lines(env: DREnv, *lines: str) -> DRRuntime:
    """The env's dr.toml with more keys for shop (min_keep 1: a held backup is then kept by
    its hold alone, not by the retention floor)."""
    text = env.config_path.read_text().replace("critical = true",
                                               "critical = true\n" + "\n".join(lines), 1)
    env.config_path.write_text(text)
    return env.runtime()


def _backup(rt: DRRuntime):  # type: ignore[no-untyped-def]
    result = run_backup(rt.config, "shop", keyring=rt.keyring, stores=rt.stores,
                        catalog=rt.catalog)
    assert verify_backup(result.manifest, rt.stores, rt.catalog).ok
    return result


@pytest.fixture
def api(dr_env: DREnv, monkeypatch: pytest.MonkeyPatch) -> Iterator[ApiServer]:
    monkeypatch.setenv("DR_JWT_SECRET", JWT_SECRET)
    with dr_env.config_path.open("a") as fh:
        fh.write("[api]\nanonymous_rate = 0\nrefused_rate = 0\n")
    server = start_api(dr_env.config_path)
    yield server
    server.stop()


def _ask(api: ApiServer, rt: DRRuntime, role: str, query: str, **variables: object
         ) -> dict[str, object]:
    token = mint_token(JWT_SECRET, rt.config.api, f"{role}-1", role, 600)
    resp = httpx.post(f"{api.url}/graphql", json={"query": query, "variables": variables},
                      headers={"Authorization": f"Bearer {token}"}, timeout=60)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert not body.get("errors"), body
    return body["data"]  # type: ignore[no-any-return]


def test_rows_deleted_hold_the_last_good_backup_until_an_admin_releases_it(
        dr_env: DREnv, api: ApiServer) -> None:
    rt = _with_lines(dr_env, "min_keep = 1")
    [first] = verified_backups(rt, "shop")
    run_sql(dr_env.apps["shop"], "DELETE FROM orders WHERE id % 5 <> 0")  # 16,000 of 20,000
    second = _backup(rt)
    b1, b2 = first.backup_id, second.backup_id

    assert second.contents is not None and second.contents.held_backup_id == b1
    [finding] = second.contents.findings
    assert (finding.rule, finding.table, finding.previous_backup_id) == (
        Rule.ROWS_DROPPED, "public.orders", b1)
    [alert] = [a for a in rt.catalog.open_alerts() if a.kind == BACKUP_ANOMALY]
    assert alert.app == "shop" and alert.severity == "warning"
    for words in ("public.orders", "20,000 to 4,000 rows", "-80%", b1, b2):
        assert words in alert.message, alert.message
    [hold] = rt.catalog.holds("shop")
    assert hold.backup_id == b1 and hold.held_by == "contents check"
    assert hold.held_reason is not None and b2 in hold.held_reason
    assert rt.catalog.backup_findings(b2) == [{**finding.to_dict(), "continuing": False}]
    assert rt.catalog.backup_findings(b1) == []  # checked: nothing before it to compare

    # GraphQL shows the hold; a year on, retention keeps the held backup, deletes nothing
    # else it may not (the newest verified one stays as always).
    nodes = {e["node"]["backupId"]: e["node"]
             for e in _ask(api, rt, "viewer", HELD, app="shop")["backups"]["edges"]}
    assert nodes[b1]["held"] and "public.orders" in nodes[b1]["heldReason"]
    assert nodes[b2] == {"backupId": b2, "held": False, "heldReason": None}
    later = datetime.now(UTC) + timedelta(days=400)
    policy = rt.config.apps["shop"]
    kept = apply_retention(policy, stores=rt.stores, catalog=rt.catalog, dry_run=False, now=later)
    assert kept.deleted == []
    [why] = [d.reason for d in kept.plan.decisions if d.backup_id == b1]
    assert why.startswith("held until an admin releases it") and b2 in why
    assert (dr_env.local_dir / first.object_key).exists()

    # Neither a viewer nor an operator may release it; an empty reason is refused.
    for role in ("viewer", "operator"):
        out = _ask(api, rt, role, RELEASE, id=b1, reason="cleanup")["releaseBackupHold"]
        assert out["__typename"] == "NotAllowed" and "admin" in out["message"], out
    out = _ask(api, rt, "admin", RELEASE, id=b1, reason="  ")["releaseBackupHold"]
    assert out["__typename"] == "InvalidInput" and "reason" in out["message"]
    assert rt.catalog.is_held(b1)
    out = _ask(api, rt, "admin", RELEASE, id=b2, reason="x")["releaseBackupHold"]
    assert out["__typename"] == "InvalidInput" and "not held" in out["message"]

    out = _ask(api, rt, "admin", RELEASE, id=b1,
               reason="orders archived on purpose (ticket 4711)")["releaseBackupHold"]
    assert out == {"__typename": "BackupHoldReleased", "backupId": b1, "app": "shop",
                   "alertResolved": True, "message": out["message"]}
    assert not rt.catalog.is_held(b1)
    assert [a for a in rt.catalog.open_alerts() if a.kind == BACKUP_ANOMALY] == []
    [released] = rt.catalog.holds("shop", held_only=False)
    assert (released.released_by, released.release_reason) == (
        "admin-1", "orders archived on purpose (ticket 4711)")
    audit = [(r.actor, r.role, r.result) for r in rt.catalog.audit_page(20, action="releaseBackupHold")]
    assert audit[::-1] == [("viewer-1", "viewer", "NotAllowed"),
                           ("operator-1", "operator", "NotAllowed"),
                           ("admin-1", "admin", "InvalidInput"),
                           ("admin-1", "admin", "InvalidInput"),
                           ("admin-1", "admin", "BackupHoldReleased")]

    gone = apply_retention(policy, stores=rt.stores, catalog=rt.catalog, dry_run=False, now=later)
    assert gone.deleted == [b1]
    assert not (dr_env.local_dir / first.object_key).exists()


def test_random_data_where_there_was_text_is_the_ransomware_signature(dr_env: DREnv) -> None:
    rt = _with_lines(dr_env, "[apps.shop.anomalies]", "min_history = 2")
    verified_backups(rt, "shop", 2)
    run_sql(dr_env.apps["shop"], "UPDATE orders SET note = encode(decode(md5(random()::text)"
            " || md5(random()::text) || md5(random()::text) || md5(random()::text), 'hex'),"
            " 'base64')")
    hit = _backup(rt)
    assert hit.contents is not None
    [finding] = hit.contents.findings
    assert finding.rule == Rule.RATIO_JUMPED and finding.severity == "critical"
    assert finding.numbers["ratio"] >= 0.45 and finding.numbers["median_ratio"] < 0.35
    [alert] = [a for a in rt.catalog.open_alerts() if a.kind == BACKUP_ANOMALY]
    assert alert.severity == "critical" and "compression ratio rose" in alert.message

    [hold] = rt.catalog.holds("shop")
    assert hold.backup_id == finding.previous_backup_id

    # The next backup's ratio is still above the median (which catches up over `history`
    # backups): recorded as going on, holding nothing more, the alert left as it is.
    after = _backup(rt)
    assert after.contents is not None and after.contents.held_backup_id is None
    assert [f.rule for f in after.contents.continuing] == [Rule.RATIO_JUMPED]
    assert after.contents.new_findings == ()
    assert [h.backup_id for h in rt.catalog.holds("shop")] == [hold.backup_id]
    assert [a.id for a in rt.catalog.open_alerts() if a.kind == BACKUP_ANOMALY] == [alert.id]
    [kept] = rt.catalog.backup_findings(after.backup_id) or []
    assert kept["rule"] == Rule.RATIO_JUMPED and kept["continuing"] is True


def test_the_purge_never_removes_a_held_backups_row(catalog_db: str) -> None:
    catalog = Catalog(f"{PG_URL}/{catalog_db}")
    catalog.ensure()
    long_ago = datetime.now(UTC) - timedelta(days=500)
    with catalog.cursor() as cur:  # as sync leaves a held backup found in no store
        for n, held in ((1, True), (2, False)):
            cur.execute("INSERT INTO dr.backups (backup_id, app, status, started_at, deleted_at,"
                        " held, held_reason) VALUES (%s, 'shop', %s, %s, %s, %s, %s)",
                        (f"shop-20250101T00000{n}Z-000{n}", BackupStatus.DELETED, long_ago,
                         long_ago, held, "anomalies" if held else None))
    out = purge_deleted_rows(catalog, 400, apps=["shop"], servers=[], dry_run=False,
                             actor="test", role="cli")
    assert out.rows.backups == {"shop": 1}
    assert [r[0] for r in run_sql(catalog_db, "SELECT backup_id FROM dr.backups")] == [
        "shop-20250101T000001Z-0001"]


def test_drctl_shows_the_hold_and_releases_it_with_a_reason(dr_env: DREnv) -> None:
    rt = dr_env.runtime()
    [first] = verified_backups(rt, "shop")
    run_sql(dr_env.apps["shop"], "DROP TABLE orders")
    out = dr_env.drctl("backup", "shop").stdout
    assert "1 anomaly: table public.orders (20,000 rows) is gone" in out, out
    assert f"backup {first.backup_id} is held" in out
    listing = dr_env.drctl("backups", "shop").stdout
    [line] = [x for x in listing.splitlines() if x.startswith(first.backup_id)]
    assert "HELD: anomalies in the next backup" in line

    refused = dr_env.drctl("backup", "release", first.backup_id, check=False)
    assert refused.returncode == 1 and "needs a reason" in refused.stderr
    assert dr_env.drctl("backup", "shop", "--reason", "x", check=False).returncode == 1
    done = dr_env.drctl("backup", "release", first.backup_id, "--reason", "table retired",
                        "--json")
    assert '"alert_resolved": true' in done.stdout
    again = dr_env.drctl("backup", "release", first.backup_id, "--reason", "x", check=False)
    assert again.returncode == 1 and "is not held" in again.stderr
    audit = [(r.role, r.result) for r in rt.catalog.audit_page(10, action="releaseBackupHold")]
    assert audit[::-1] == [("cli", "refused"), ("cli", "ok"), ("cli", "refused")]
