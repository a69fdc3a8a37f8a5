"""GraphQL API load benchmark on a catalog holding a year of history.

Fills a fresh catalog database `dr_bench_api` (~5,000 backups with copies and checks, 40
drills, restores, alerts, 10,000 chained audit rows), starts the API with one uvicorn
worker, and drives executiveSummary, globalStatus (no token) and backups(first: 50) from
this process, `--clients` keep-alive connections in a closed loop for `--seconds` each. A
success is an HTTP 200 with data and no GraphQL errors. Prints requests/s, latency
percentiles, errors, the share of answers served from the response cache and API CPU per
query, then PASS/FAIL against the targets for the default configuration. A second pass with
the response cache off (`--uncached-seconds`) shows what executing each query costs.

Usage: .venv/bin/python bench/api_load.py [--seconds 30] [--uncached-seconds 10]
                                          [--clients 20] [--json] [--strict]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import math
import os
import random
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

try:
    import uvloop
except ImportError:  # pragma: no cover - uvicorn[standard] brings it
    uvloop = None  # type: ignore[assignment]
import psycopg2
import psycopg2.extras
from psycopg2 import sql

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = HERE / ".cache" / "api_load"
sys.path.insert(0, str(ROOT))

from catalog_history import draw_audit_entry  # noqa: E402
from pgserver import Server  # noqa: E402

from dr_assets.core.access.audit_chain import GENESIS, entry_hash  # noqa: E402
from dr_assets.core.access.tokens import mint_token  # noqa: E402
from dr_assets.core.catalog import Catalog  # noqa: E402
from dr_assets.core.catalog.schema import MIGRATIONS  # noqa: E402
from dr_assets.core.format.keys import generate_key_file  # noqa: E402
from dr_assets.core.format.manifest import (  # noqa: E402
    BackupManifest,
    DestinationResult,
    EncryptionInfo,
    iso,
    object_key,
)
from dr_assets.core.policy import load_config  # noqa: E402

CATALOG_DB = "dr_bench_api"
SEED = 20261126
DAYS = 365
MB = 1 << 20


@dataclass(frozen=True)
class AppSpec:
    """The policies of the repo's dr.toml, plus the size of each app's dump."""

    name: str
    rto_hours: int
    rpo_hours: int
    every_hours: int
    retention_days: int
    critical: bool
    raw_mb_start: int  # raw dump size a year ago; grows ~30% over the year
    tables: int


APPS = (
    AppSpec("scholarship_api", 4, 24, 6, 90, True, 2000, 42),
    AppSpec("auto_command_center", 2, 12, 4, 60, True, 800, 67),
    AppSpec("student_dashboard", 8, 48, 12, 30, False, 300, 18),
)
LOADED_AT_VERSION = 3  # the history is written to the tables of migrations 1-3
ON_DEMAND = 620  # manual / retried backups over the year, on top of the scheduled ones
DRILLS = 40
AUDIT_ROWS = 10_000

QUERIES = (
    ("executiveSummary", True,
     "{ executiveSummary { healthScore status headline rpoCompliancePct rtoCompliancePct"
     " appsAtRisk { name } } }"),
    ("globalStatus", False,
     "{ globalStatus { healthScore status appsTotal appsMeetingRpo appsMeetingRto"
     " criticalAppsHealthy storageBytes backups24h { succeeded failed } activeAlerts } }"),
    ("backups", True,
     "{ backups(first: 50) { totalCount edges { node { backupId status storedBytes"
     " copies { destination status } } } } }"),
)
P50_MS, P99_MS, GLOBAL_RPS = 10.0, 50.0, 300.0
TIMEOUT_S = 30.0  # per request; a request without an answer by then is an error


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --- the catalog: one year of history ---------------------------------------------------------


def _sha(rng: random.Random) -> str:
    return hashlib.sha256(rng.randbytes(16)).hexdigest()


@dataclass
class History:
    backups: list[tuple[Any, ...]] = field(default_factory=list)
    copies: list[tuple[Any, ...]] = field(default_factory=list)
    verifications: list[tuple[Any, ...]] = field(default_factory=list)
    drills: list[tuple[Any, ...]] = field(default_factory=list)
    restores: list[tuple[Any, ...]] = field(default_factory=list)
    alerts: list[tuple[Any, ...]] = field(default_factory=list)
    audit: list[tuple[Any, ...]] = field(default_factory=list)
    # (app, started_at, backup_id, raw_bytes) of valid backups, for drills and restores
    valid: list[tuple[str, datetime, str, int]] = field(default_factory=list)


BACKUP_ERRORS = (
    "pg_dump: error: connection to server at \"10.0.4.12\", port 5432 failed: timeout expired",
    "pg_dump: error: query failed: ERROR:  canceling statement due to conflict with recovery",
    "no destination accepted the backup: s3: EndpointConnectionError; local: No space left on device",
    "the backup of this app is already running: wait for it to finish",
)
COPY_ERRORS = (
    "s3: An error occurred (SlowDown) when calling the UploadPart operation: Please reduce your "
    "request rate",
    "s3: EndpointConnectionError: Could not connect to the endpoint URL",
)


def plan_backups(now: datetime, rng: random.Random) -> list[tuple[AppSpec, datetime, bool]]:
    """(app, started_at, scheduled) for a year: every cadence slot plus on-demand backups."""
    start = now - timedelta(days=DAYS)
    out: list[tuple[AppSpec, datetime, bool]] = []
    for spec in APPS:
        step = timedelta(hours=spec.every_hours)
        slot = start.replace(minute=0, second=0, microsecond=0)
        slot -= timedelta(hours=slot.hour % spec.every_hours)
        while slot <= now - timedelta(minutes=5):
            if slot >= start:
                out.append((spec, slot + timedelta(seconds=rng.uniform(3, 90)), True))
            slot += step
    for _ in range(ON_DEMAND):
        spec = rng.choices(APPS, weights=(5, 4, 1))[0]
        out.append((spec, start + timedelta(seconds=rng.uniform(0, DAYS * 86400 - 3600)), False))
    out.sort(key=lambda x: x[1])
    return out


def build_history(now: datetime, rng: random.Random) -> History:
    h = History()
    plan = plan_backups(now, rng)
    seen: set[str] = set()
    for spec, started, scheduled in plan:
        age = (now - started).total_seconds() / (DAYS * 86400)
        while True:
            backup_id = f"{spec.name}-{started:%Y%m%dT%H%M%SZ}-{rng.getrandbits(16):04x}"
            if backup_id not in seen:
                seen.add(backup_id)
                break
        raw = int(spec.raw_mb_start * MB * (1.3 - 0.3 * age) * rng.uniform(0.98, 1.02))
        stored = int(raw * rng.uniform(0.2, 0.26))
        seconds = raw / (rng.uniform(60, 110) * MB) + rng.uniform(2, 8)
        finished = started + timedelta(seconds=seconds)
        run_id = str(rng.getrandbits(128).to_bytes(16, "big").hex())
        partition = started.strftime("%Y-%m-%d-%H:00") if scheduled else None
        roll = rng.random()
        status = "failed" if roll < 0.012 else "degraded" if roll < 0.022 else "completed"
        if status == "failed":
            fail_after = rng.uniform(1, seconds)
            h.backups.append((backup_id, spec.name, "failed", started,
                              started + timedelta(seconds=fail_after), fail_after, None, None,
                              None, None, run_id, partition, None, None,
                              rng.choice(BACKUP_ERRORS), finished))
            continue
        sha = _sha(rng)
        key = object_key(backup_id)
        dests = {
            "s3": DestinationResult("ok", stored, iso(finished), None,
                                    f"s3://dr-backups/backups/{key}"),
            "local": DestinationResult("ok", stored, iso(finished), None, f"/srv/dr/backups/{key}"),
        }
        error = None
        if status == "degraded":
            error = rng.choice(COPY_ERRORS)
            dests["s3"] = DestinationResult("failed", 0, None, error, None)
            error = f"s3: {error.removeprefix('s3: ')}"
        row_counts = {f"public.t{i:02d}": 10 + rng.getrandbits(21) for i in range(spec.tables)}
        manifest = BackupManifest(
            app=spec.name, backup_id=backup_id, started_at=iso(started), finished_at=iso(finished),
            source_database=spec.name, source_host="10.0.4.12:5432", server_version="15.8",
            pg_dump_version="15.8",
            encryption=EncryptionInfo("mk-2026-01", secrets.token_urlsafe(60), 1 << 20),
            raw_bytes=raw, stored_bytes=stored, sha256=sha, row_counts={},
            destinations=dests, dagster_run_id=run_id, dagster_partition=partition,
        ).to_dict()
        manifest["row_counts"] = row_counts  # (asdict would deep-copy it: 3x slower)
        h.backups.append((backup_id, spec.name, status, started, finished, seconds, raw, stored,
                          sha, "mk-2026-01", run_id, partition, json.dumps(row_counts),
                          json.dumps(manifest), error, finished))
        h.valid.append((spec.name, started, backup_id, raw))
        newest = now - started < timedelta(hours=spec.every_hours)
        for name, dest in dests.items():
            if dest.status != "ok":
                h.copies.append((backup_id, name, "failed", None, None, dest.error, None, None,
                                 None, None))
                continue
            # The verify job checks every copy after the backup; the newest may still wait.
            checked = finished + timedelta(minutes=rng.uniform(2, 40))
            if newest and checked > now:
                h.copies.append((backup_id, name, "ok", stored, dest.location, None, finished,
                                 None, None, None))
                continue
            ok = rng.random() > 0.0012
            h.verifications.append((backup_id, name, ok, sha, sha if ok else _sha(rng),
                                    None if ok else "checksum mismatch: the stored object changed",
                                    checked))
            h.copies.append((backup_id, name, "ok", stored, dest.location, None, finished,
                             checked, ok, None if ok else "checksum mismatch"))
    add_drills(h, now, rng)
    add_restores(h, now, rng)
    add_alerts(h, now, rng)
    add_audit(h, now, rng)
    return h


def _newest_valid(h: History, app: str, before: datetime) -> tuple[str, int] | None:
    best = None
    for a, started, backup_id, raw in h.valid:
        if a == app and started < before:
            best = (backup_id, raw)
    return best


def add_drills(h: History, now: datetime, rng: random.Random) -> None:
    """Monthly drills per app (the newest within the last 30 days) plus a few ad-hoc ones."""
    plan: list[tuple[AppSpec, datetime]] = []
    for spec in APPS:
        offset = rng.uniform(2, 20)
        plan += [(spec, now - timedelta(days=offset + 30 * k)) for k in range(12)]
    while len(plan) < DRILLS:
        plan.append((rng.choice(APPS), now - timedelta(days=rng.uniform(5, DAYS - 5))))
    for i, (spec, started) in enumerate(sorted(plan, key=lambda x: x[1]), start=1):
        found = _newest_valid(h, spec.name, started)
        if found is None:
            continue
        backup_id, raw = found
        rto = spec.rto_hours * 3600.0
        failed = rng.random() < 0.1
        seconds = raw / (rng.uniform(25, 45) * MB) + rng.uniform(20, 60)
        if failed:
            error = rng.choice(("row counts differ: public.t03 expected 18244, got 0",
                                "pg_restore: error: could not execute query: out of memory"))
            restore_seconds = None
        else:
            error, restore_seconds = None, seconds
        finished = started + timedelta(seconds=seconds + rng.uniform(5, 30))
        scratch = f"drill_{spec.name}_{started:%Y%m%d%H%M%S}"
        h.drills.append((spec.name, backup_id, scratch, "failed" if failed else "passed", started,
                         finished, restore_seconds, rto,
                         None if failed else seconds <= rto, not failed, spec.tables,
                         rng.randint(200_000, 9_000_000), True, error, f"drill-run-{i}"))
        h.restores.append((backup_id, spec.name, scratch, "DRILL",
                           "failed" if failed else "succeeded", started, finished,
                           seconds, "local", not failed, error, "dagster", f"drill-run-{i}"))


def add_restores(h: History, now: datetime, rng: random.Random) -> None:
    for i in range(6):
        spec = rng.choice(APPS)
        started = now - timedelta(days=rng.uniform(1, DAYS - 10))
        found = _newest_valid(h, spec.name, started - timedelta(hours=rng.uniform(0, 72)))
        if found is None:
            continue
        backup_id, raw = found
        seconds = raw / (rng.uniform(25, 45) * MB) + rng.uniform(20, 60)
        ok = i != 3
        h.restores.append((backup_id, spec.name, f"{spec.name}_restored_{started:%Y%m%d}",
                           "NEW_DATABASE", "succeeded" if ok else "failed", started,
                           started + timedelta(seconds=seconds), seconds,
                           "s3" if i % 2 else "local", ok,
                           None if ok else "target database already exists", "alice@example.com",
                           f"restore-run-{i}"))


def add_alerts(h: History, now: datetime, rng: random.Random) -> None:
    """An alert per failed/degraded backup and failed drill (resolved), two still open."""
    for row in h.backups:
        backup_id, app, status, started = row[0], row[1], row[2], row[3]
        if status not in ("failed", "degraded"):
            continue
        kind = "backup_failed" if status == "failed" else "backup_degraded"
        critical = next(s for s in APPS if s.name == app).critical
        opened = started + timedelta(minutes=rng.uniform(1, 5))
        resolved = opened + timedelta(hours=rng.uniform(2, 12))
        if resolved > now:
            continue
        h.alerts.append((app, kind, "critical" if critical else "warning", "resolved",
                         f"{app}: backup {backup_id} {status}", opened, resolved,
                         opened + timedelta(minutes=20) if rng.random() < 0.6 else None,
                         "oncall@example.com", opened, None))
    for d in h.drills:
        if d[3] == "failed":
            h.alerts.append((d[0], "rto_violated", "critical", "resolved",
                             f"{d[0]}: RTO at risk: last drill failed", d[5],
                             d[5] + timedelta(days=2), None, None, d[5], None))
    h.alerts.append(("student_dashboard", "rto_violated", "warning", "open",
                     "student_dashboard: RTO at risk: last drill restore took longer than the RTO",
                     now - timedelta(hours=30), None, None, None, now - timedelta(hours=30), None))
    h.alerts.append(("auto_command_center", "health_low", "critical", "open",
                     "auto_command_center: health score 78.5 is under 80",
                     now - timedelta(hours=3), None, now - timedelta(hours=2), "oncall@example.com",
                     now - timedelta(hours=3),
                     "webhook https://hooks.example.com/dr: HTTP 502"))


def add_audit(h: History, now: datetime, rng: random.Random) -> None:
    """AUDIT_ROWS entries over the year, chained exactly as Catalog.audit chains them."""
    start = now - timedelta(days=DAYS)
    times = sorted(start + timedelta(microseconds=rng.randrange(DAYS * 86400 * 10**6 - 10**9))
                   for _ in range(AUDIT_ROWS))
    prev = GENESIS
    for at in times:
        e = draw_audit_entry(rng, at, rng.choice(APPS).name, alerts=200)
        digest = entry_hash(e, prev)
        h.audit.append((at, e.actor, e.role, e.action, json.dumps(e.arguments), e.result,
                        e.detail, prev, digest))
        prev = digest


INSERTS = {
    "backups": "INSERT INTO dr.backups (backup_id, app, status, started_at, finished_at,"
               " duration_seconds, raw_bytes, stored_bytes, sha256, key_id, dagster_run_id,"
               " partition_key, row_counts, manifest, error, updated_at) VALUES %s",
    "copies": "INSERT INTO dr.backup_copies (backup_id, destination, status, stored_bytes,"
              " location, error, uploaded_at, verified_at, verified_ok, verify_error) VALUES %s",
    "verifications": "INSERT INTO dr.verifications (backup_id, destination, ok, expected_sha256,"
                     " actual_sha256, error, checked_at) VALUES %s",
    "drills": "INSERT INTO dr.drills (app, backup_id, scratch_database, status, started_at,"
              " finished_at, restore_seconds, rto_seconds, rto_met, rows_validated, tables,"
              " row_total, scratch_dropped, error, dagster_run_id) VALUES %s",
    "restores": "INSERT INTO dr.restores (backup_id, app, target_database, mode, status,"
                " started_at, finished_at, duration_seconds, source_destination, rows_validated,"
                " error, requested_by, dagster_run_id) VALUES %s",
    "alerts": "INSERT INTO dr.alerts (app, kind, severity, status, message, opened_at,"
              " resolved_at, acknowledged_at, acknowledged_by, delivered_at, delivery_error)"
              " VALUES %s",
    "audit": "INSERT INTO dr.audit_log (at, actor, role, action, arguments, result, detail,"
             " prev_hash, hash) VALUES %s",
}
TABLES = ("backups", "backup_copies", "verifications", "drills", "restores", "alerts", "audit_log")


def fill_catalog(server: Server, now: datetime) -> dict[str, Any]:
    """Recreate CATALOG_DB with one year of history.

    The rows are written to the tables as of migration LOADED_AT_VERSION (the migrations
    are append-only), then Catalog.ensure() applies the later ones, so any column they
    derive from these rows is backfilled by the repo's own migration, as in a catalog
    that lived through the upgrade.
    """
    server.drop(CATALOG_DB)
    server.create(CATALOG_DB)
    url = server.url(CATALOG_DB)
    t0 = time.perf_counter()
    h = build_history(now, random.Random(SEED))
    t1 = time.perf_counter()
    conn = server.connect(CATALOG_DB)
    try:
        conn.autocommit = False
        with conn.cursor() as cur:
            cur.execute("CREATE SCHEMA dr")
            cur.execute("CREATE TABLE dr.schema_version (version int PRIMARY KEY,"
                        " applied_at timestamptz NOT NULL DEFAULT now())")
            for version, ddl in enumerate(MIGRATIONS[:LOADED_AT_VERSION], start=1):
                cur.execute(ddl)
                cur.execute("INSERT INTO dr.schema_version (version) VALUES (%s)", (version,))
            for key, statement in INSERTS.items():
                psycopg2.extras.execute_values(cur, statement, getattr(h, key), page_size=2000)
        conn.commit()
        conn.autocommit = True
        Catalog(url).ensure()  # the migrations after LOADED_AT_VERSION, with their backfills
        with conn.cursor() as cur:
            cur.execute("SELECT max(version) FROM dr.schema_version")
            schema_version = cur.fetchone()[0]
            cur.execute("VACUUM ANALYZE")
            counts = {}
            for table in TABLES:
                cur.execute(sql.SQL("SELECT count(*) FROM dr.{}").format(sql.Identifier(table)))
                counts[table] = cur.fetchone()[0]
            cur.execute("SELECT status, count(*) FROM dr.backups GROUP BY status ORDER BY 2 DESC")
            by_status = dict(cur.fetchall())
            cur.execute("SELECT count(*) FILTER (WHERE NOT ok) FROM dr.verifications")
            failed_checks = cur.fetchone()[0]
            cur.execute("SELECT status, count(*) FROM dr.drills GROUP BY status ORDER BY 1")
            drills = dict(cur.fetchall())
            cur.execute("SELECT count(*) FROM dr.alerts WHERE status = 'open'")
            open_alerts = cur.fetchone()[0]
            cur.execute("SELECT pg_database_size(current_database())")
            size = cur.fetchone()[0]
    finally:
        conn.close()
    t2 = time.perf_counter()
    chain = Catalog(url).verify_audit_chain()
    if not chain.ok:
        raise SystemExit(f"bench: the generated audit chain is invalid: {chain.problem}")
    return {
        "database": CATALOG_DB, "schema_version": schema_version, "rows": counts,
        "backups_by_status": by_status,
        "failed_verifications": failed_checks, "drills_by_status": drills,
        "open_alerts": open_alerts, "audit_chain_ok": chain.ok, "size_bytes": size,
        "generate_seconds": round(t1 - t0, 2), "insert_seconds": round(t2 - t1, 2),
    }


# --- the API process -------------------------------------------------------------------------


def write_config(work: Path, catalog_url: str, cache_seconds: float | None = None,
                 rate_limited: bool = False) -> Path:
    """A dr.toml with the repo's three app policies; nothing here contacts the stores. The
    per-client limit on anonymous callers is off unless `rate_limited` (every client of a
    bench comes from one address)."""
    lines = [
        "[catalog]", f'database_url = "{catalog_url}"',
        "[encryption]", 'key_file = "keys/master.key"',
        "[[destinations]]", 'name = "s3"', 'kind = "s3"', 'bucket = "dr-backups"',
        'prefix = "backups"', 'endpoint_url = "http://127.0.0.1:9"',  # never contacted
        'access_key_id = "bench"', 'secret_access_key = "bench-secret"',
        "[[destinations]]", 'name = "local"', 'kind = "local"', 'path = "local-backups"',
    ]
    for spec in APPS:
        lines += [
            f"[apps.{spec.name}]",
            f'database_url = "postgresql://postgres@127.0.0.1:5432/{spec.name}"',
            f"rto_hours = {spec.rto_hours}", f"rpo_hours = {spec.rpo_hours}",
            f"every_hours = {spec.every_hours}", f"retention_days = {spec.retention_days}",
            f"critical = {'true' if spec.critical else 'false'}",
        ]
    lines += ["[api]", 'dagster_url = "http://127.0.0.1:9"', 'jwt_issuer = "pg-dr-control"',
              'jwt_audience = "dr-api"', 'roles_claim = "role"', 'jwt_secret_env = "DR_JWT_SECRET"']
    if cache_seconds is not None:
        lines.append(f"response_cache_seconds = {cache_seconds:g}")
    if not rate_limited:
        lines.append("anonymous_rate = 0")
    work.mkdir(parents=True, exist_ok=True)
    (work / "local-backups").mkdir(exist_ok=True)
    path = work / ("dr.toml" if cache_seconds is None else f"dr-cache-{cache_seconds:g}.toml")
    path.write_text("\n".join(lines) + "\n")
    if not (work / "keys" / "master.key").exists():
        generate_key_file(work / "keys" / "master.key")
    return path


def cpu_pressure() -> float | None:
    """PSI `some avg60` of the CPU: % of time runnable tasks waited for a CPU (noise gauge)."""
    try:
        for line in Path("/proc/pressure/cpu").read_text().splitlines():
            if line.startswith("some"):
                return float(line.split()[2].split("=")[1])
    except (OSError, IndexError, ValueError):
        pass
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Api:
    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path
    command: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu_seconds(self) -> float:
        """utime + stime of the uvicorn process (one worker: it is the server itself)."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def start_api(config: Path, secret: str, access_log: bool) -> Api:
    port = free_port()
    args = [str(ROOT / ".venv" / "bin" / "uvicorn"), "--factory", "graphql_api.app:create_app",
            "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    if not access_log:
        args.append("--no-access-log")
    env = {**os.environ, "DR_CONFIG": str(config), "DR_JWT_SECRET": secret}
    log_path = config.parent / "uvicorn.log"
    with open(log_path, "wb") as out:
        proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    shown = [f"DR_CONFIG={config.relative_to(ROOT)}", "DR_JWT_SECRET=<random>",
             str(Path(args[0]).relative_to(ROOT)), *args[1:]]
    api = Api(proc, port, log_path, " ".join(shown))
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"bench: the API exited with {proc.returncode}:\n{api.log_tail()}")
        try:
            if httpx.get(f"{api.url}/healthz", timeout=1).status_code == 200:
                return api
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            stop_api(api)
            raise SystemExit(f"bench: /healthz did not answer within 60 s:\n{api.log_tail()}")
        time.sleep(0.1)


def stop_api(api: Api) -> None:
    if api.proc.poll() is None:
        api.proc.send_signal(signal.SIGINT)
        try:
            api.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            api.proc.kill()
            api.proc.wait()


# --- the load --------------------------------------------------------------------------------


@dataclass
class Phase:
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    cache_hits: int = 0
    wall: float = 0.0
    api_cpu: float = 0.0
    client_cpu: float = 0.0

    def failed(self, problem: str) -> None:
        self.errors += 1
        if len(self.error_samples) < 3:
            self.error_samples.append(problem)


def http_request(port: int, body: bytes, token: str | None) -> bytes:
    head = [b"POST /graphql HTTP/1.1", f"host: 127.0.0.1:{port}".encode(),
            b"content-type: application/json", f"content-length: {len(body)}".encode()]
    if token:
        head.append(f"authorization: Bearer {token}".encode())
    return b"\r\n".join(head) + b"\r\n\r\n" + body


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
                    ) -> tuple[int, dict[bytes, bytes], bytes]:
    """One HTTP/1.1 request on a keep-alive connection; the API always sends Content-Length."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name:
            headers[name.strip().lower()] = value.strip()
    length = headers.get(b"content-length")
    if length is None:
        raise ValueError("answer without Content-Length")
    return status, headers, await reader.readexactly(int(length))


def _problem(status: int, body: bytes) -> str | None:
    """None for a success (HTTP 200, data, no GraphQL errors), else what went wrong."""
    if status != 200:
        return f"HTTP {status}: {body[:200]!r}"
    try:
        doc = json.loads(body)
    except ValueError:
        return f"not JSON: {body[:200]!r}"
    if doc.get("errors") or not doc.get("data"):
        return f"GraphQL errors: {json.dumps(doc.get('errors'))[:200]}"
    return None


async def _client(port: int, request: bytes, measure_from: float, until: float, out: Phase
                  ) -> None:
    """One client: a keep-alive connection; send, wait for the whole answer, repeat (a closed
    loop). Answers before `measure_from` are the warm-up and are not counted."""
    conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
    while time.perf_counter() < until:
        t0 = time.perf_counter()
        try:
            async with asyncio.timeout(TIMEOUT_S):
                if conn is None:
                    conn = await asyncio.open_connection("127.0.0.1", port)
                status, headers, body = await _exchange(*conn, request)
            problem = _problem(status, body)
        except (OSError, ValueError, TimeoutError, asyncio.IncompleteReadError) as exc:
            problem = f"{type(exc).__name__}: {exc or f'no answer within {TIMEOUT_S:g} s'}"
            if conn is not None:
                conn[1].close()
            conn = None
        if t0 < measure_from:
            continue
        if problem is None:
            out.latencies_ms.append((time.perf_counter() - t0) * 1000)
            out.cache_hits += headers.get(b"x-dr-cache") == b"hit"
        else:
            out.failed(problem)
    if conn is not None:
        conn[1].close()


def drive(api: Api, query: str, token: str | None, clients: int, seconds: float,
          warmup: float) -> Phase:
    """`clients` keep-alive connections driven by one asyncio loop (uvloop when installed) in
    a closed loop: `warmup` seconds unmeasured, then `seconds` measured on the same
    connections. The client is raw HTTP/1.1 over asyncio streams because the load generator
    must cost far less than the server: httpx in 20 threads cost this process 0.9-1.9 ms of
    CPU per request and capped the load near 800 requests/s even on `{ __typename }`; this
    costs about 0.1 ms."""
    request = http_request(api.port, json.dumps({"query": query}).encode(), token)
    phase = Phase()

    async def run() -> None:
        start = time.perf_counter()
        measure_from, until = start + warmup, start + warmup + seconds
        await asyncio.gather(*(_client(api.port, request, measure_from, until, phase)
                               for _ in range(clients)))

    cpu0, own0 = api.cpu_seconds(), time.process_time()
    t0 = time.perf_counter()
    runner = uvloop.run if uvloop is not None else asyncio.run
    runner(run())
    elapsed = time.perf_counter() - t0
    share = seconds / elapsed if elapsed else 1.0  # CPU figures: the measured part's share
    phase.wall = seconds
    phase.api_cpu = (api.cpu_seconds() - cpu0) * share
    phase.client_cpu = (time.process_time() - own0) * share
    return phase


def pct(sorted_ms: list[float], p: float) -> float:
    """Nearest-rank percentile of sorted samples."""
    if not sorted_ms:
        return float("nan")
    k = math.ceil(p / 100 * len(sorted_ms)) - 1
    return sorted_ms[max(0, min(len(sorted_ms) - 1, k))]


def summarize_phase(name: str, public: bool, p: Phase) -> dict[str, Any]:
    lat = sorted(p.latencies_ms)
    return {
        "query": name, "token": "none" if public else "viewer",
        "requests": len(lat), "errors": p.errors, "error_samples": p.error_samples,
        "seconds": round(p.wall, 2),
        "requests_per_s": round(len(lat) / p.wall, 1) if p.wall else 0.0,
        "p50_ms": round(pct(lat, 50), 2), "p90_ms": round(pct(lat, 90), 2),
        "p99_ms": round(pct(lat, 99), 2), "max_ms": round(lat[-1], 2) if lat else None,
        "mean_ms": round(statistics.fmean(lat), 2) if lat else None,
        "api_cpu_pct": round(100 * p.api_cpu / p.wall, 1) if p.wall else 0.0,
        "api_cpu_ms_per_request": round(1000 * p.api_cpu / len(lat), 2) if lat else None,
        "client_cpu_pct": round(100 * p.client_cpu / p.wall, 1) if p.wall else 0.0,
        "cache_hit_pct": round(100 * p.cache_hits / len(lat), 1) if lat else 0.0,
    }


def targets_for(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for r in results:
        out.append({"target": f"{r['query']} p50 <= {P50_MS:g} ms", "value": r["p50_ms"],
                    "pass": r["p50_ms"] <= P50_MS and r["errors"] == 0})
        out.append({"target": f"{r['query']} p99 <= {P99_MS:g} ms", "value": r["p99_ms"],
                    "pass": r["p99_ms"] <= P99_MS and r["errors"] == 0})
        if r["query"] == "globalStatus":
            out.append({"target": f"globalStatus >= {GLOBAL_RPS:g} requests/s",
                        "value": r["requests_per_s"],
                        "pass": r["requests_per_s"] >= GLOBAL_RPS and r["errors"] == 0})
    return out


# --- report ----------------------------------------------------------------------------------


def print_text(r: dict[str, Any]) -> None:
    c = r["catalog"]
    rows = ", ".join(f"{k} {v:,}" for k, v in c["rows"].items())
    print(f"catalog {c['database']} (schema version {c['schema_version']}, "
          f"{c['size_bytes'] / MB:,.0f} MB): {rows}")
    print(f"  backups by status: {c['backups_by_status']}; failed verifications "
          f"{c['failed_verifications']}; drills {c['drills_by_status']}; open alerts "
          f"{c['open_alerts']}; audit chain valid: {c['audit_chain_ok']}")
    e = r["environment"]
    print(f"load: {e['clients']} concurrent keep-alive clients (closed loop; raw HTTP/1.1 on one "
          f"asyncio loop in the bench process), {e['warmup_s']:g} s warm-up per query; "
          f"{e['cpus']} CPUs, load average at start {e['loadavg_start']}, CPU pressure (PSI some"
          f" avg60) {e['cpu_pressure_start']}% at start, {e['cpu_pressure_end']}% at end")
    for label, rows in r["passes"].items():
        print(f"[{label}] api: {e['api_commands'][label]}")
        print(f"  {'query':18} {'req/s':>8} {'p50 ms':>9} {'p90 ms':>9} {'p99 ms':>9} "
              f"{'max ms':>9} {'errors':>6} {'cached':>7} {'API CPU':>8} {'API CPU/req':>12} "
              f"{'bench CPU':>9}")
        for q in rows:
            per_req = q["api_cpu_ms_per_request"]
            per_req_text = f"{per_req:.2f} ms" if per_req is not None else "-"
            print(f"  {q['query']:18} {q['requests_per_s']:8.1f} {q['p50_ms']:9.2f} "
                  f"{q['p90_ms']:9.2f} {q['p99_ms']:9.2f} {q['max_ms'] or 0:9.1f} "
                  f"{q['errors']:6d} {q['cache_hit_pct']:6.1f}% {q['api_cpu_pct']:7.0f}% "
                  f"{per_req_text:>12} {q['client_cpu_pct']:8.0f}%")
            for sample in q["error_samples"]:
                print(f"      error: {sample}")
    print("targets (default configuration):")
    for t in r["targets"]:
        print(f"  {'PASS' if t['pass'] else 'FAIL'}  {t['target']:38} measured {t['value']}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0,
                        help="measured seconds per query (default 30)")
    parser.add_argument("--clients", type=int, default=20,
                        help="concurrent clients (default 20)")
    parser.add_argument("--warmup", type=float, default=3.0,
                        help="unmeasured seconds before each query's measurement (default 3)")
    parser.add_argument("--uncached-seconds", type=float, default=10.0,
                        help="measured seconds per query of a second pass with the response "
                             "cache off, to show the cost of executing each query (0 skips it;"
                             " default 10)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--strict", action="store_true",
                        help="exit 1 when a target fails (default: report only)")
    parser.add_argument("--keep", action="store_true", help="keep the catalog database")
    parser.add_argument("--no-access-log", action="store_true",
                        help="start uvicorn with --no-access-log")
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432/postgres",
                        help="PostgreSQL server URL (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.clients < 1:
        parser.error("--seconds must be positive and --clients at least 1")

    server = Server(args.server)
    now = datetime.now(UTC)
    loadavg = [round(x, 2) for x in os.getloadavg()]
    pressure = cpu_pressure()
    log(f"filling {CATALOG_DB} with {DAYS} days of history")
    catalog = fill_catalog(server, now)
    log(f"  {catalog['rows']} in {catalog['generate_seconds'] + catalog['insert_seconds']:.1f} s")
    api: Api | None = None
    try:
        config = write_config(WORK, server.url(CATALOG_DB))
        secret = secrets.token_hex(32)
        viewer = mint_token(secret, load_config(config).api, "bench-viewer", "viewer",
                            ttl_seconds=3600 + int(len(QUERIES) * (
                                args.seconds + args.uncached_seconds + 2 * args.warmup)))
        results: dict[str, list[dict[str, Any]]] = {}
        commands: dict[str, str] = {}
        passes = [("default", config, args.seconds)]
        if args.uncached_seconds > 0:
            passes.append(("response cache off", write_config(WORK, server.url(CATALOG_DB), 0),
                           args.uncached_seconds))
        for label, pass_config, seconds in passes:
            api = start_api(pass_config, secret, access_log=not args.no_access_log)
            log(f"[{label}] API pid {api.proc.pid} on {api.url}")
            rows = []
            for name, needs_token, query in QUERIES:
                log(f"[{label}] {name}: {args.clients} clients, {args.warmup:g} s warm-up"
                    f" + {seconds:g} s")
                phase = drive(api, query, viewer if needs_token else None, args.clients,
                              seconds, args.warmup)
                rows.append(summarize_phase(name, not needs_token, phase))
                if api.proc.poll() is not None:
                    raise SystemExit(f"bench: the API died during {name}:\n{api.log_tail()}")
            commands[label] = api.command
            results[label] = rows
            stop_api(api)
            api = None
    finally:
        if api is not None:
            stop_api(api)
        if not args.keep:
            server.drop(CATALOG_DB)
    targets = targets_for(results["default"])
    report = {
        "catalog": catalog,
        "environment": {"api_commands": commands, "clients": args.clients,
                        "seconds_per_query": args.seconds, "warmup_s": args.warmup,
                        "cpus": os.cpu_count(), "loadavg_start": loadavg,
                        "cpu_pressure_start": pressure, "cpu_pressure_end": cpu_pressure()},
        "passes": results,
        "targets": targets,
        "all_pass": all(t["pass"] for t in targets),
    }
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        print_text(report)
    return 1 if args.strict and not report["all_pass"] else 0


if __name__ == "__main__":
    sys.exit(main())
