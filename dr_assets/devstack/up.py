"""`make up`: bring the local dev stack up, idempotently, from dr.toml.

    python -m dr_assets.devstack.up [--config dr.toml]

Starts the demo's protected PostgreSQL server ([servers.demo]), checks PostgreSQL,
creates the demo application databases, the master key (and the API's
JWT secret when dr.toml names a file for it), starts SeaweedFS as the local S3, the
Dagster webserver and daemon (instance in dagster_home/, runs in the PostgreSQL database
DAGSTER_PG_DB), the GraphQL API and a WAL streamer per [servers.NAME] (creating its
replication slot if missing), and takes each app's first backup as a Dagster run
(through the engine directly when Dagster cannot run). Every step leaves alone what is
already there, so a second run changes nothing. All files go under `.dr/` beside
dr.toml; `make down` stops what this started.
"""

from __future__ import annotations

import os
import secrets
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from dr_assets.core.access.tokens import load_jwt_secret, mint_token
from dr_assets.core.backup.take import run_backup
from dr_assets.core.errors import DRError, MasterKeyError, StoreError
from dr_assets.core.format.keys import generate_key_file, read_key_file
from dr_assets.core.format.manifest import object_key
from dr_assets.core.pg.conninfo import ConnInfo
from dr_assets.core.pg.databases import database_exists
from dr_assets.core.pg.sessions import connection
from dr_assets.core.policy import DestinationConfig, DRConfig, load_config
from dr_assets.core.runtime import DRRuntime
from dr_assets.core.statuses import VALID_STATUSES, CopyStatus
from dr_assets.devstack import dagster_runs, seaweed
from dr_assets.devstack.dagster_stack import (
    ApiStatus,
    DagsterStatus,
    ensure_api,
    ensure_dagster,
    group_rss,
    stack_env,
)
from dr_assets.devstack.demo_data import DEMO_APPS, ensure_demo_database
from dr_assets.devstack.demo_server import ensure_demo_server
from dr_assets.devstack.net import http_answers, listening, port_owner
from dr_assets.devstack.report import Report, UpError, human
from dr_assets.devstack.services import DAEMON, SEAWEED, lookup
from dr_assets.devstack.state import Paths, RunDir
from dr_assets.devstack.wal_streams import ensure_wal_streamers

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
SEAWEED_TIMEOUT = 60.0
TOKEN_TTL = 86400


def pg_start_hint() -> str:
    etc = Path("/etc/postgresql")
    versions = sorted((p.name for p in etc.iterdir() if p.name.isdigit()), key=int) \
        if etc.is_dir() else []
    return f"pg_ctlcluster --skip-systemctl-redirect {versions[-1] if versions else 15} main start"


# -- PostgreSQL -------------------------------------------------------------------------------

def check_postgres(config: DRConfig, report: Report) -> None:
    servers: dict[tuple[str, int], ConnInfo] = {}
    for url in (config.catalog_url, *(a.database_url for a in config.apps.values())):
        info = ConnInfo.parse(url)
        servers.setdefault((info.host, info.port), info)
    for (host, port), info in servers.items():
        try:
            with connection(info.with_db("postgres")) as conn:
                version = str(conn.server_version)
        except DRError as exc:
            fix = (f"start it:  {pg_start_hint()}" if host in LOCAL_HOSTS else
                   "start that server, or point DR_CATALOG_URL / the apps' *_DATABASE_URL "
                   "at one that runs")
            raise UpError(f"PostgreSQL is not reachable at {host}:{port} ({exc}).\n"
                          f"  Fix: {fix}\n  then run `make up` again.") from None
        major, minor = int(version) // 10000, int(version) % 10000
        report.line("postgres", f"PostgreSQL {major}.{minor} at {host}:{port}: reachable")
    catalog = ConnInfo.parse(config.catalog_url)
    if database_exists(catalog, catalog.dbname):
        report.line("catalog", f"database {catalog.dbname} exists")
    else:
        DRRuntime(config).catalog.ensure()
        report.change("catalog", f"created database {catalog.dbname} (schema dr)")


def ensure_databases(config: DRConfig, report: Report) -> set[str]:
    """Create the demo databases; returns the apps whose database is there."""
    ready = set()
    for app in config.apps.values():
        info = ConnInfo.parse(app.database_url)
        demo = DEMO_APPS.get(app.name)
        if demo is None:
            if database_exists(info, info.dbname):
                ready.add(app.name)
                report.line("database", f"{info.dbname} ({app.name}) exists")
            else:
                report.line("database", f"{info.dbname} ({app.name}) does not exist and there "
                            "is no demo data for this app: create it, no backup taken")
            continue
        if not database_exists(info, info.dbname):
            report.line("database", f"creating {info.dbname} with demo data ({demo.description})")
        result = ensure_demo_database(demo, info)
        ready.add(app.name)
        if result.created:
            report.change("database", f"created {info.dbname}: {result.tables} tables, "
                          f"{result.rows:,} rows, {human(result.size_bytes)}")
        else:
            report.line("database", f"{info.dbname} exists ({human(result.size_bytes)}): "
                        "left as is")
    return ready


# -- master key -------------------------------------------------------------------------------

def ensure_master_key(config: DRConfig, report: Report) -> None:
    enc = config.encryption
    if enc.key_file is None:
        report.line("master key", f"from ${enc.key_env} (encryption.key_env): not managed here")
        return
    shown = report.paths.show(enc.key_file)
    if enc.key_file.exists():
        try:
            key = read_key_file(enc.key_file)
        except MasterKeyError as exc:
            raise UpError(f"{exc}\n  Fix: restore the right key file; only if no backup needs "
                          "it, move it away and run `make up` again") from None
        report.line("master key", f"{shown} (key id {key.key_id})")
        return
    key = generate_key_file(enc.key_file)
    report.change("master key", f"created {shown} (key id {key.key_id})")
    report.line("", "KEEP A COPY OF IT SOMEWHERE SAFE, away from the backups: "
                "no backup can be restored without it")


def ensure_jwt_secret(config: DRConfig, report: Report) -> None:
    """The HS256 secret of the API's local tokens ([api] jwt_secret_file), unless the
    environment variable named by jwt_secret_env provides one."""
    path = config.api.jwt_secret_file
    if path is None:
        return
    env = config.api.jwt_secret_env
    if env and os.environ.get(env):
        report.line("jwt secret", f"from ${env}")
        return
    shown = report.paths.show(path)
    if path.exists():
        report.line("jwt secret", shown)
        return
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_urlsafe(48) + "\n")
    report.change("jwt secret", f"created {shown} (signs the API's local HS256 tokens)")


# -- SeaweedFS --------------------------------------------------------------------------------

@dataclass(frozen=True)
class LocalS3:
    endpoint: str
    port: int
    access_key: str
    secret_key: str
    buckets: tuple[str, ...]


def local_s3(config: DRConfig) -> LocalS3 | None:
    """The S3 endpoint on this machine that dr.toml writes to, which SeaweedFS provides."""
    dests: list[DestinationConfig] = [
        d for d in config.destinations
        if d.kind == "s3" and d.endpoint_url and urlsplit(d.endpoint_url).hostname in LOCAL_HOSTS
    ]
    if not dests:
        return None
    first = dests[0]
    assert first.endpoint_url is not None
    parts = urlsplit(first.endpoint_url)
    if not first.access_key_id or not first.secret_access_key:
        raise UpError(f"destination {first.name!r} ({first.endpoint_url}) has no access_key_id / "
                      "secret_access_key: the local SeaweedFS needs them (see dr.toml)")
    buckets = tuple(dict.fromkeys(d.bucket for d in dests if d.endpoint_url == first.endpoint_url))
    return LocalS3(first.endpoint_url.rstrip("/"), parts.port or 80, first.access_key_id,
                   first.secret_access_key, buckets)


def ensure_seaweed(config: DRConfig, report: Report) -> None:
    s3 = local_s3(config)
    if s3 is None:
        report.line("seaweedfs", "dr.toml has no S3 destination on this machine: not started")
        return
    paths, run = report.paths, RunDir(report.paths)
    data_dir, log = paths.seaweed_dir, paths.log_dir / "seaweed.log"
    rec = run.get(SEAWEED.name)
    if rec is not None and rec.alive():
        if rec.details.get("s3_port") != s3.port:
            raise UpError(f"SeaweedFS (pid {rec.pid}) answers on port {rec.details.get('s3_port')}"
                          f" but dr.toml now wants {s3.endpoint}.\n  Fix: make down && make up")
        server = seaweed.SeaweedServer(rec.pid, s3.port, data_dir, s3.access_key, s3.secret_key)
        try:
            if not http_answers(s3.endpoint):
                raise RuntimeError("no HTTP answer within 5 s")
            seaweed.wait_ready(server, s3.buckets, timeout=15)
        except RuntimeError as exc:
            raise UpError(f"SeaweedFS (pid {rec.pid}) runs but S3 does not work at {s3.endpoint}: "
                          f"{exc}\n  See {paths.show(log)}; fix: make down && make up") from None
        report.line("seaweedfs", f"already running: pid {rec.pid}, S3 at {s3.endpoint}, "
                    f"bucket {', '.join(s3.buckets)}")
        return
    if rec is not None:
        run.remove(SEAWEED.name)
        report.line("seaweedfs", f"pid file of a SeaweedFS that is gone (pid {rec.pid}): removed")
    if listening(s3.port):
        owner = port_owner(s3.port)
        who = f" (pid {owner[0]}: {owner[1][:120]})" if owner else ""
        ours = owner is not None and str(data_dir) in owner[1]
        hint = (f"it looks like a SeaweedFS of an earlier `make up` whose PID file is gone: "
                f"kill {owner[0]}" if ours and owner else
                "stop that process, or give the local S3 another port for make up and drctl "
                f"alike: export DR_S3_ENDPOINT=http://127.0.0.1:{s3.port + 1}")
        raise UpError(f"port {s3.port} ({s3.endpoint}) is in use by another process{who}, "
                      f"not by a SeaweedFS that `make up` started.\n  Fix: {hint}")
    log.parent.mkdir(parents=True, exist_ok=True)
    base = seaweed.free_port_block()
    try:
        server = seaweed.start(data_dir, base_port=base, s3_port=s3.port,
                               access_key=s3.access_key, secret_key=s3.secret_key,
                               buckets=s3.buckets, log_path=log, timeout=SEAWEED_TIMEOUT)
    except RuntimeError as exc:
        raise UpError(f"SeaweedFS did not start: {exc}\n  See {paths.show(log)}") from None
    run.record(SEAWEED.name, server.pid, log=log, details={
        "s3_port": s3.port, "endpoint": s3.endpoint, "base_port": base,
        "data_dir": paths.show(data_dir), "buckets": list(s3.buckets)})
    report.started.append(SEAWEED.name)
    report.change("seaweedfs", f"started: pid {server.pid}, S3 at {s3.endpoint}, bucket "
                  f"{', '.join(s3.buckets)}, data {paths.show(data_dir)}, "
                  f"log {paths.show(log)}")


# -- first backups ----------------------------------------------------------------------------

def usable_backup(rt: DRRuntime, app: str) -> tuple[str | None, str]:
    """The newest backup of APP with a good copy in every configured destination, readable
    with the configured keys (a catalog row left over from a wiped `.dr/` does not count);
    else None and why the newest one does not count."""
    stores = {s.name: s for s in rt.stores}
    known_keys = {k.key_id for k in (rt.keyring.current, *rt.keyring.previous)}
    why = "no valid backup yet"
    for n, row in enumerate(rt.catalog.list_backups(app=app, statuses=VALID_STATUSES, limit=5,
                                                    with_manifests=False)):
        key_id = row.key_id
        good = {name for name, c in row.copies.items() if c.status == CopyStatus.OK}
        problem = None
        if key_id not in known_keys:
            problem = f"its master key {key_id} is not configured"
        elif not set(stores) <= good:
            problem = f"it has no good copy in {', '.join(sorted(set(stores) - good))}"
        else:
            try:
                missing = [name for name, store in stores.items()
                           if store.size(object_key(row.backup_id)) != row.stored_bytes]
            except StoreError as exc:
                missing, problem = [], str(exc)
            if missing:
                problem = f"its copy in {', '.join(missing)} is gone"
        if problem is None:
            return str(row.backup_id), ""
        if n == 0:
            why = f"newest backup {row.backup_id} does not count here ({problem})"
    return None, why


def engine_backup(config: DRConfig, rt: DRRuntime, app: str, report: Report) -> None:
    try:
        result = run_backup(config, app, keyring=rt.keyring, stores=rt.stores,
                            catalog=rt.catalog)
    except DRError as exc:
        report.failures.append(app)
        report.line("", f"FAILED: {exc}")
        return
    m = result.manifest
    report.backups[app] = m.backup_id
    report.change("backup", f"{m.backup_id}: {m.status}, {human(m.raw_bytes)} dumped, "
                  f"{human(m.stored_bytes)} stored in {result.duration_seconds:.1f} s "
                  f"({', '.join(m.ok_destinations)})")
    for name, dest in m.destinations.items():
        if dest.status != CopyStatus.OK:
            report.line("", f"copy to {name} failed: {dest.error}")


def dagster_backups(config: DRConfig, rt: DRRuntime, todo: list[tuple[str, str]],
                    dagster: DagsterStatus, report: Report) -> list[str]:
    """Take the pending backups (`todo`: app, why) as Dagster runs; returns the apps Dagster
    refused, for the engine."""
    paths = report.paths
    daemon_log = paths.show(paths.log_dir / f"{DAEMON.name}.log")
    runs: list[dagster_runs.BackupRun] = []
    refused: list[str] = []
    for app, why in todo:
        try:
            run = dagster_runs.launch(dagster.url, dagster.graphql_url, config, app)
        except (dagster_runs.LaunchError, RuntimeError) as exc:
            report.line("backup", f"{app}: {why}; {exc}: taking it with the engine directly")
            refused.append(app)
            continue
        if run.adopted:
            report.line("backup", f"{app}: {why}; following Dagster run {run.run_id} "
                        f"({run.job}, partition {run.partition}, {run.status}) already going")
        else:
            report.line("backup", f"{app}: {why}: launched Dagster run {run.run_id} "
                        f"({run.job}, partition {run.partition})")
        runs.append(run)
    ended = set()
    for run in dagster_runs.follow(dagster.url, dagster.graphql_url, runs):
        ended.add(run.run_id)
        took = time.monotonic() - run.started
        if run.status != "SUCCESS":
            report.failures.append(run.app)
            report.line("backup", f"{run.app}: Dagster run {run.run_id} {run.status} after "
                        f"{took:.0f} s: {run.error or 'no error message'}")
            report.line("", f"see {run.url(dagster.url)} and {daemon_log}")
            continue
        backup_id, why = usable_backup(rt, run.app)
        rows = rt.catalog.list_backups(backup_ids=[backup_id]) if backup_id else []
        if not backup_id or not rows:
            report.failures.append(run.app)
            report.line("backup", f"{run.app}: Dagster run {run.run_id} succeeded but {why}; "
                        f"see {run.url(dagster.url)}")
            continue
        row = rows[0]
        report.backups[run.app] = backup_id
        good = sorted(n for n, c in row.copies.items() if c.status == CopyStatus.OK)
        report.change("backup", f"{backup_id}: {row.status}, {human(row.raw_bytes or 0)} dumped, "
                      f"{human(row.stored_bytes or 0)} stored in "
                      f"{row.duration_seconds or 0:.1f} s ({', '.join(good)}); Dagster run "
                      f"{run.run_id[:8]} took {took:.1f} s")
    for run in runs:
        if run.run_id not in ended:
            report.failures.append(run.app)
            report.line("backup", f"{run.app}: Dagster run {run.run_id} is still {run.status} "
                        f"after {dagster_runs.RUN_TIMEOUT:.0f} s{': ' + run.error if run.error else ''}")
            report.line("", f"it goes on in Dagster (`make up` again follows it): see "
                        f"{run.url(dagster.url)} and {daemon_log}")
    return refused


def ensure_backups(config: DRConfig, ready: set[str], report: Report,
                   dagster: DagsterStatus) -> None:
    rt = DRRuntime(config)
    todo: list[tuple[str, str]] = []
    for app in config.apps:
        if app not in ready:
            continue
        existing, why = usable_backup(rt, app)
        if existing:
            report.backups[app] = existing
            report.line("backup", f"{app}: has a valid backup ({existing})")
        else:
            todo.append((app, why))
    if not todo:
        return
    if dagster.can_launch:
        engine = dagster_backups(config, rt, todo, dagster, report)
    else:
        why_not = ("its code location does not load" if dagster.webserver and dagster.daemon
                   else "it is not running")
        report.line("backup", f"Dagster cannot run them ({why_not}, see above): taking the "
                    "first backups with the engine directly")
        engine = [app for app, _ in todo]
    whys = dict(todo)
    for app in engine:
        report.line("backup", f"{app}: {whys[app]}: taking one with the engine")
        engine_backup(config, rt, app, report)


# -- summary ----------------------------------------------------------------------------------

def free_db_name(config: DRConfig, app: str) -> str:
    info = ConnInfo.parse(config.app(app).database_url)
    base = f"{info.dbname}_restored"[:55]
    name, n = base, 1
    while database_exists(info, name):
        n += 1
        name = f"{base}_{n}"
    return name


def admin_token(config: DRConfig) -> str | None:
    secret = load_jwt_secret(config.api)
    if not secret:
        return None
    return mint_token(secret, config.api, subject="admin", role="admin", ttl_seconds=TOKEN_TTL)


def summary(config: DRConfig, report: Report, dagster: DagsterStatus, api: ApiStatus) -> None:
    paths = report.paths
    print()
    if report.problems:
        print("make up: the dev stack is only partly up (see above):")
        for problem in report.problems:
            print("  - " + problem.replace("\n", "\n    "))
    if report.failures:
        print(f"make up: backups of {', '.join(report.failures)} failed (see above).")
    if not report.problems and not report.failures:
        if report.changed:
            print("make up: the dev stack is up.")
        else:
            print("make up: everything is already up; nothing changed.")
    for rec in RunDir(paths):
        if rec.alive():
            where = f", {rec.details['endpoint']}" if rec.details.get("endpoint") else ""
            where = f", {rec.details['url']}" if rec.details.get("url") else where
            when = "started now" if rec.name in report.started else "already running"
            count, rss = group_rss(rec.pid)
            mem = f"; {count} processes, {human(rss)}" if count > 1 else f"; {human(rss)}"
            print(f"  running:  {lookup(rec.name).title}: pid {rec.pid}{where} ({when}{mem})")
    print(f"  pids:     {paths.show(paths.run_dir)}/    logs: {paths.show(paths.log_dir)}/")
    if config.encryption.key_file is not None:
        print(f"  key:      {paths.show(config.encryption.key_file)}  (back it up: without it "
              "no backup can be restored)")
    print("Open:")
    if api.running:
        print(f"  API         {api.url}/graphql  (GraphiQL in a browser; also /healthz, /metrics,"
              " /api/v1/...)")
    elif api.missing:
        print("  API         not available yet (graphql_api/app.py does not exist)")
    else:
        print("  API         not running (see above)")
    if dagster.webserver:
        print(f"  Dagster UI  {dagster.url}")
    else:
        print("  Dagster UI  not running (see above)")
    token = admin_token(config)
    if token is None:
        print(f"  (no admin token: no JWT secret in ${config.api.jwt_secret_env} or "
              f"{config.api.jwt_secret_file})")
    else:
        print(f"Admin token (valid {TOKEN_TTL // 3600} h, a new one each `make up`; in GraphiQL add "
              "the header Authorization: Bearer <token>):")
        print(f"  export DR_TOKEN={token}")
        if api.running:
            print(f"  curl -s {api.url}/graphql -H \"Authorization: Bearer $DR_TOKEN\" "
                  "-H 'Content-Type: application/json' \\\n"
                  "       -d '{\"query\": \"{ globalStatus { status healthScore } }\"}'")
    venv_drctl = Path(sys.executable).parent / "drctl"
    drctl = paths.show(venv_drctl) if venv_drctl.exists() else "drctl"
    print("Next:")
    print(f"  {drctl} backups")
    if report.backups:
        app, backup_id = next(iter(report.backups.items()))
        print(f"  {drctl} verify {backup_id}")
        print(f"  {drctl} restore {backup_id} --target-db {free_db_name(config, app)}")
    else:
        print(f"  {drctl} verify BACKUP_ID")
        print(f"  {drctl} restore BACKUP_ID --target-db NEW_DATABASE")
    print("  make down     stops what `make up` started (PostgreSQL and the databases stay)")


def main(argv: Sequence[str] | None = None) -> int:
    paths = Paths.from_args("up", __doc__, argv)
    try:
        config = load_config(paths.config)
        print(f"make up: dev stack of {paths.root} ({paths.show(paths.config)})", flush=True)
        report = Report(paths)
        ensure_demo_server(config, paths, report)
        check_postgres(config, report)
        ready = ensure_databases(config, report)
        ensure_master_key(config, report)
        ensure_jwt_secret(config, report)
        ensure_seaweed(config, report)
        senv = stack_env(paths)
        dagster = ensure_dagster(config, senv, report)
        api = ensure_api(config, senv, report)
        ensure_wal_streamers(config, senv, report)
        ensure_backups(config, ready, report, dagster)
        summary(config, report, dagster, api)
    except (UpError, DRError) as exc:
        print(f"\nmake up: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nmake up: interrupted; run it again to finish (it picks up where it stopped)",
              file=sys.stderr)
        return 130
    return 1 if report.failures or report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
