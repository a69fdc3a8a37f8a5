"""A synthetic October 2026 in a test catalog: backups, checks, drills, deletions, alerts,
restores and audit entries, some backup windows covered and some not, and what a
compliance report over it must say."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from itertools import count

import psycopg2

from dr_assets.core.access.audit_chain import GENESIS, AuditEntry, entry_hash
from dr_assets.core.catalog import Catalog
from tests.support.env import DREnv
from tests.support.pg import PG_URL

OCT = datetime(2026, 10, 1, tzinfo=UTC)
_ids = count(1)


def at(day: int, hour: int = 0, minute: int = 0, month: int = 10) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


# shop (every 6 h, RPO 24 h, RTO 4 h): 124 windows; these four are missed, for four reasons.
SHOP_MISSED = {
    at(3, 6): None,  # no backup at all
    at(10, 12): "failed",  # the backup failed
    at(15, 18): "failed its checksum verification",  # both copies failed their check
    at(20, 0): "was never verified",  # completed, never checked
}
SHOP_DELETED_COVERING = at(25, 6)  # verified, later deleted by retention: still covered
SHOP_PARTLY_BAD = at(12, 0)  # one copy failed its check, the other passed: covered
LEDGER_MISSED = at(31, 12)  # ledger (every 12 h): 62 windows, the last one missed

EXPECTED_SUMMARY = {
    "shop": {
        "app": "shop", "critical": True, "rpo_hours": 24, "rto_hours": 4, "every_hours": 6,
        "windows_total": 124, "windows_covered": 120, "windows_missed": 4, "windows_pending": 0,
        "rpo_coverage_pct": 96.8, "verifications_ok": 239, "verifications_failed": 3,
        "drills": 3, "drills_passed": 2, "drills_within_rto": 1,
        "proved_by": "isolated (empty PostgreSQL 15 server)", "deletions": 2,
        "alerts_opened": 2, "alerts_resolved": 2, "restores": 3,
        "protection": "dumps", "wal_longest_gap_seconds": None, "wal_rpo_met": None,
    },
    "ledger": {
        "app": "ledger", "critical": False, "rpo_hours": 24, "rto_hours": 2, "every_hours": 12,
        "windows_total": 62, "windows_covered": 61, "windows_missed": 1, "windows_pending": 0,
        "rpo_coverage_pct": 98.4, "verifications_ok": 61, "verifications_failed": 0,
        "drills": 0, "drills_passed": 0, "drills_within_rto": 0, "proved_by": None,
        "deletions": 0,
        "alerts_opened": 0, "alerts_resolved": 0, "restores": 0,
        "protection": "dumps", "wal_longest_gap_seconds": None, "wal_rpo_met": None,
    },
}
RESTORES_BY_REQUESTER = {"alice": 2, "drctl": 1}
RESTORE_REQUESTS = [("alice", "admin", "RunLaunched"), ("bob", "viewer", "NotAllowed")]
AUDIT_ENTRIES = 4


def two_apps(env: DREnv) -> DREnv:
    """shop as dr_env has it, plus ledger: every 12 h, RTO 2 h, not critical."""
    db = env.apps["shop"]
    two = env.with_apps({"shop": db, "ledger": db})
    text = two.config_path.read_text()
    head = f'[apps.ledger]\ndatabase_url = "{PG_URL}/{db}"\n'
    old = head + "rto_hours = 4\nrpo_hours = 24\nevery_hours = 6\nretention_days = 90\ncritical = true"
    new = head + "rto_hours = 2\nrpo_hours = 24\nevery_hours = 12\nretention_days = 30\ncritical = false"
    assert old in text
    two.config_path.write_text(text.replace(old, new))
    return two


class Seeder:
    def __init__(self, catalog_db: str) -> None:
        Catalog(f"{PG_URL}/{catalog_db}").ensure()
        self.conn = psycopg2.connect(f"{PG_URL}/{catalog_db}")
        self.conn.autocommit = True
        self.prev_hash = GENESIS

    def sql(self, statement: str, *args: object) -> None:
        with self.conn.cursor() as cur:
            cur.execute(statement, args)

    def backup(self, app: str, started: datetime, status: str = "completed",
               checks: tuple[bool, ...] = (True, True), error: str | None = None,
               deleted_at: datetime | None = None) -> str:
        backup_id = f"{app}-{started:%Y%m%dT%H%M%S}Z-{next(_ids):04x}"
        self.sql("INSERT INTO dr.backups (backup_id, app, status, started_at, finished_at,"
                 " stored_bytes, sha256, error, deleted_at, manifest) VALUES"
                 " (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                 backup_id, app, status, started, started + timedelta(minutes=3),
                 None if status == "failed" else 1000, None if status == "failed" else "ab" * 32,
                 error, deleted_at, None if status == "failed" else json.dumps({"app": app}))
        for ok, dest in zip(checks, ("local", "s3"), strict=False):
            self.check(backup_id, dest, ok, started + timedelta(minutes=10))
        return backup_id

    def check(self, backup_id: str, dest: str, ok: bool, checked: datetime) -> None:
        self.sql("INSERT INTO dr.verifications (backup_id, destination, ok, expected_sha256,"
                 " actual_sha256, error, checked_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                 backup_id, dest, ok, "ab" * 32, "ab" * 32 if ok else "cd" * 32,
                 None if ok else f"sha256 mismatch on {dest}", checked)
        # The state record_verification keeps: the copy's latest result and the backup's.
        self.sql("INSERT INTO dr.backup_copies (backup_id, destination, status, verified_at,"
                 " verified_ok) VALUES (%s, %s, 'ok', %s, %s) ON CONFLICT (backup_id, destination)"
                 " DO UPDATE SET verified_at = EXCLUDED.verified_at,"
                 " verified_ok = EXCLUDED.verified_ok", backup_id, dest, checked, ok)
        self.sql("UPDATE dr.backups b SET verified = s.v, check_failed = s.f, checks = s.n"
                 " FROM (SELECT coalesce(bool_or(verified_ok), false) AS v,"
                 " coalesce(bool_or(NOT verified_ok), false) AS f, count(verified_at) AS n"
                 " FROM dr.backup_copies WHERE backup_id = %s) s WHERE b.backup_id = %s",
                 backup_id, backup_id)

    def drill(self, app: str, started: datetime, status: str, seconds: float | None,
              rto: float, error: str | None = None, isolated_on: str | None = None) -> None:
        """isolated_on: the server version of the empty server an isolated drill ran on."""
        self.sql("INSERT INTO dr.drills (app, backup_id, scratch_database, status, started_at,"
                 " finished_at, restore_seconds, rto_seconds, rto_met, error, target,"
                 " instance_start_seconds, server_version) VALUES"
                 " (%s, %s, 'drill_x', %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                 app, f"{app}-x", status, started,
                 None if status == "running" else started + timedelta(minutes=30), seconds, rto,
                 None if seconds is None else seconds <= rto, error,
                 "isolated" if isolated_on else "same_server", 1.5 if isolated_on else None,
                 isolated_on)

    def alert(self, app: str, kind: str, opened: datetime, resolved: datetime | None) -> None:
        self.sql("INSERT INTO dr.alerts (app, kind, severity, status, message, opened_at,"
                 " resolved_at) VALUES (%s, %s, 'critical', %s, %s, %s, %s)",
                 app, kind, "resolved" if resolved else "open", f"{app}: {kind}", opened, resolved)

    def restore(self, app: str, started: datetime, who: str, mode: str = "NEW_DATABASE",
                status: str = "succeeded") -> None:
        self.sql("INSERT INTO dr.restores (backup_id, app, target_database, mode, status,"
                 " started_at, finished_at, duration_seconds, requested_by) VALUES"
                 " (%s, %s, %s, %s, %s, %s, %s, 42.0, %s)",
                 f"{app}-x", app, f"{app}_check", mode, status, started,
                 started + timedelta(minutes=1), who)

    def audit(self, when: datetime, actor: str, role: str, action: str, result: str,
              detail: str | None = None) -> None:
        """An entry written at `when`, chained exactly as the catalog chains them."""
        args = {"backup_id": "shop-20261006T000500Z-0001", "target_database": "shop_check",
                "mode": "NEW_DATABASE"} if action == "restoreBackup" else {"app": "shop"}
        entry = AuditEntry(when, actor, role, action, args, result, detail)
        digest = entry_hash(entry, self.prev_hash)
        self.sql("INSERT INTO dr.audit_log (at, actor, role, action, arguments, result, detail,"
                 " prev_hash, hash) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                 when, actor, role, action, json.dumps(args), result, detail, self.prev_hash,
                 digest)
        self.prev_hash = digest

    def close(self) -> None:
        self.conn.close()


def seed_october(catalog_db: str) -> None:
    s = Seeder(catalog_db)
    try:
        _seed_backups(s)
        _seed_operations(s)
    finally:
        s.close()


def _seed_backups(s: Seeder) -> None:
    for i in range(31 * 4):
        start = OCT + timedelta(hours=6 * i)
        started = start + timedelta(minutes=5)
        reason = SHOP_MISSED.get(start, "covered")
        if reason is None:
            continue
        if reason == "failed":
            s.backup("shop", started, "failed", checks=(), error="pg_dump: connection refused")
        elif reason.startswith("failed its"):
            s.backup("shop", started, checks=(False, False))
        elif reason.startswith("was never"):
            s.backup("shop", started, checks=())
        elif start == SHOP_DELETED_COVERING:
            s.backup("shop", started, "deleted", error="retention: beyond the 90-day window",
                     deleted_at=at(28, 2))
        elif start == SHOP_PARTLY_BAD:
            s.backup("shop", started, checks=(False, True))
        else:
            s.backup("shop", started)
    for i in range(31 * 2):
        start = OCT + timedelta(hours=12 * i)
        if start != LEDGER_MISSED:
            s.backup("ledger", start + timedelta(minutes=20), checks=(True,))
    # Outside the period, or evidence of other periods.
    s.backup("shop", at(30, 23, month=9))
    s.backup("shop", at(1, 0, month=11))
    october = s.backup("shop", at(2, 0, 30), checks=())
    s.check(october, "local", True, at(2, 0, month=11))  # checked in November: not counted
    s.backup("shop", at(2, 6, month=9), "deleted", error="retention: beyond the 90-day window",
             deleted_at=at(2, 2, 30))
    s.backup("shop", at(1, 6, month=8), "deleted", error="retention: beyond the 90-day window",
             deleted_at=at(2, 2, month=11))


def _seed_operations(s: Seeder) -> None:
    rto = 4 * 3600.0
    s.drill("shop", at(5, 3), "passed", 120.0, rto, isolated_on="15.6")
    s.drill("shop", at(19, 3), "passed", 20000.0, rto)
    s.drill("shop", at(26, 3), "failed", None, rto, "no good copy of shop-x")
    s.drill("shop", at(28, 3, month=9), "passed", 100.0, rto)
    s.drill("shop", at(30, 3), "running", None, rto)
    s.alert("shop", "rpo_violated", at(3, 12), at(4, 1))
    s.alert("shop", "backup_failed", at(29, 8, month=9), at(1, 2))
    s.alert("shop", "health_low", at(31, 20), None)
    s.alert("*", "storage_quota", at(12, 9), None)
    s.alert("shop", "rpo_violated", at(2, 9, month=11), None)
    s.restore("shop", at(7, 10), "alice")
    s.restore("shop", at(21, 10), "drctl", mode="REPLACE")
    s.restore("shop", at(22, 10), "alice", status="failed")
    s.restore("shop", at(5, 3, 1), "dagster", mode="DRILL")
    s.restore("shop", at(3, 10, month=11), "alice")
    s.audit(at(7, 9, 58), "alice", "admin", "restoreBackup", "RunLaunched")
    s.audit(at(8, 11), "bob", "viewer", "restoreBackup", "NotAllowed",
            "restoreBackup needs the admin role; role viewer may not")
    s.audit(at(9, 8), "carol", "operator", "createBackup", "RunLaunched")
    s.audit(at(1, 9, month=11), "alice", "admin", "restoreBackup", "RunLaunched")


def tamper_audit(catalog_db: str) -> None:
    """What a superuser could do: switch the trigger off and rewrite history."""
    conn = psycopg2.connect(f"{PG_URL}/{catalog_db}")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("ALTER TABLE dr.audit_log DISABLE TRIGGER audit_log_no_update")
        cur.execute("UPDATE dr.audit_log SET actor = 'mallory' WHERE actor = 'bob'")
        cur.execute("ALTER TABLE dr.audit_log ENABLE TRIGGER audit_log_no_update")
    conn.close()
