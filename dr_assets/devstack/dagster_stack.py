"""Dagster (webserver and daemon) and the GraphQL API, started by `make up`.

All three run in the background, each in its own session (so `make down` stops the code
servers and run workers they spawn with them), logs in `.dr/logs/`, PID files in
`.dr/run/`, with DAGSTER_HOME=<repo>/dagster_home and DR_CONFIG=<repo>/dr.toml.

The Dagster instance (dagster_home/dagster.yaml) keeps its runs in PostgreSQL; its
connection comes from DAGSTER_PG_USER, DAGSTER_PG_PASSWORD, DAGSTER_PG_HOST,
DAGSTER_PG_PORT and DAGSTER_PG_DB, and `make up` fills whichever is unset with the local
default below. Dagster accepts an empty DAGSTER_PG_PASSWORD (it only refuses an unset
variable) and then leaves the password out of the URL, which is what trust auth wants.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from dr_assets.core.errors import DRError
from dr_assets.core.pg.conninfo import ConnInfo
from dr_assets.core.pg.databases import create_database, database_exists
from dr_assets.core.policy import DRConfig
from dr_assets.core.runs import LOCATION
from dr_assets.devstack.net import graphql, http_status, listening, port_owner, process_cwd
from dr_assets.devstack.report import Report
from dr_assets.devstack.services import (
    API,
    DAEMON,
    WEBSERVER,
    ManagedProcess,
    group_members,
    orphans,
    stop_group,
)
from dr_assets.devstack.state import Paths, ProcessRecord, RunDir, process_cmdline, spawn

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
API_PORT_ENV = "DR_API_PORT"
DEFAULT_API_PORT = 8080
WEBSERVER_TIMEOUT = 180.0           # loading the code location takes most of it
DAEMON_TIMEOUT = 90.0
API_TIMEOUT = 60.0
RUNNING_TIMEOUT = 15.0              # a running service that does not answer within this is stuck

# DAGSTER_PG_* defaults: PostgreSQL of this machine, trust auth (an empty password).
PG_DEFAULTS: dict[str, str] = {
    "DAGSTER_PG_USER": "postgres",
    "DAGSTER_PG_PASSWORD": "",
    "DAGSTER_PG_HOST": "127.0.0.1",
    "DAGSTER_PG_PORT": "5432",
    "DAGSTER_PG_DB": "dagster",
}


def venv_bin(program: str) -> Path:
    return Path(sys.executable).parent / program


def tail(path: Path, lines: int = 12) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join("      | " + line for line in text.rstrip().splitlines()[-lines:])


def group_rss(pid: int) -> tuple[int, int]:
    """Number of processes and their summed resident memory (bytes) of process group PID."""
    members = group_members(pid)
    total = 0
    for member in members:
        try:
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except (OSError, ValueError, IndexError):
            continue
    return len(members), total


# -- environment and the Dagster database -----------------------------------------------------

@dataclass(frozen=True)
class StackEnv:
    env: dict[str, str]            # for the services: os.environ plus ours
    defaulted: tuple[str, ...]     # DAGSTER_PG_* variables that `make up` filled in
    dagster_home: Path

    @property
    def dagster_db(self) -> ConnInfo:
        e = self.env
        return ConnInfo(host=e["DAGSTER_PG_HOST"], port=int(e["DAGSTER_PG_PORT"]),
                        user=e["DAGSTER_PG_USER"], dbname=e["DAGSTER_PG_DB"],
                        password=e["DAGSTER_PG_PASSWORD"] or None)


def stack_env(paths: Paths) -> StackEnv:
    env = dict(os.environ)
    defaulted = tuple(k for k in PG_DEFAULTS if k not in env)
    for key in defaulted:
        env[key] = PG_DEFAULTS[key]
    home = (paths.root / "dagster_home").resolve()
    env["DAGSTER_HOME"] = str(home)
    env["DR_CONFIG"] = str(paths.config.resolve())
    env.setdefault("PYTHONUNBUFFERED", "1")
    return StackEnv(env, defaulted, home)


def ensure_dagster_db(senv: StackEnv, report: Report) -> bool:
    """The database of Dagster's runs and events; False (and why) when it cannot be had."""
    if not (senv.dagster_home / "dagster.yaml").is_file():
        report.problem("dagster", f"{report.paths.show(senv.dagster_home / 'dagster.yaml')} is "
                       "missing: restore it from git")
        return False
    try:
        info = senv.dagster_db
    except ValueError:
        report.problem("dagster", f"DAGSTER_PG_PORT={senv.env['DAGSTER_PG_PORT']!r} is not a "
                       "port number: fix or unset it")
        return False
    from_env = "defaults" if len(senv.defaulted) == len(PG_DEFAULTS) else "DAGSTER_PG_*"
    try:
        if database_exists(info, info.dbname):
            report.line("dagster db", f"{info.safe_url} exists ({from_env})")
            return True
        create_database(info, info.dbname)
    except DRError as exc:
        report.problem("dagster db", f"cannot use {info.safe_url} for Dagster's runs: {exc}\n"
                       "Fix: point DAGSTER_PG_USER / _PASSWORD / _HOST / _PORT / _DB at a "
                       "PostgreSQL where that user may create the database, or create it")
        return False
    report.change("dagster db", f"created {info.safe_url} (Dagster's runs, events, schedules; "
                  f"{from_env})")
    return True


# -- services ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Service:
    managed: ManagedProcess
    label: str
    argv: Sequence[str]
    marker: str                          # in the command line of such a process
    port: int | None = None
    url: str = ""                        # what the user opens
    ready: Callable[[float], bool] = field(default=lambda since: True)  # since: start time
    timeout: float = 60.0
    other_port: str = ""                 # how to run it on another port
    settings: Mapping[str, str] = field(default_factory=dict)  # a change needs a restart


def _stale(run: RunDir, rec: ProcessRecord, title: str, report: Report) -> None:
    left = orphans(rec)
    if left:
        stop_group(rec.pid)
    run.remove(rec.name)
    extra = f"; stopped {len(left)} process(es) it left behind" if left else ""
    report.line(title, f"pid file of one that is gone (pid {rec.pid}): removed{extra}")


def process_env(pid: int, key: str) -> str | None:
    """One variable of the environment PID started with (Linux, same user), else None."""
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return None
    prefix = key.encode() + b"="
    for item in raw.split(b"\0"):
        if item.startswith(prefix):
            return item[len(prefix):].decode(errors="replace")
    return ""


def _ours(pid: int, senv: StackEnv, marker: str) -> bool:
    """PID runs MARKER for this repo's stack: started with our DAGSTER_HOME (the test
    suite starts its own webservers and daemons in this repo, with another one)."""
    if marker not in (process_cmdline(pid) or ""):
        return False
    home = process_env(pid, "DAGSTER_HOME")
    if home is not None:
        return home == str(senv.dagster_home)
    return process_cwd(pid) == Path(senv.env["DR_CONFIG"]).parent


def _pgid(pid: int) -> int:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return pid


def _stray(senv: StackEnv, marker: str, known: set[int]) -> list[int]:
    """Processes running MARKER for this repo's stack outside the groups we know (Linux)."""
    found = []
    proc = Path("/proc")
    if not (proc / "self").exists():
        return []
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        pid = int(entry.name)
        try:
            if _ours(pid, senv, marker) and os.getpgid(pid) not in known:
                found.append(pid)
        except ProcessLookupError:
            continue
    return found


def ensure_service(svc: Service, senv: StackEnv, report: Report) -> bool:
    """Start SVC unless it already runs; True when it runs and answers."""
    paths, run = report.paths, RunDir(report.paths)
    name, label = svc.managed.name, svc.label
    log = paths.log_dir / f"{name}.log"
    rec = run.get(name)
    if rec is not None and rec.alive():
        if svc.port is not None and rec.details.get("port") != svc.port:
            report.problem(label, f"pid {rec.pid} runs on port {rec.details.get('port')} but "
                           f"port {svc.port} is wanted now.\nFix: make down && make up")
            return False
        then = rec.details.get("settings") or {}
        changed = sorted(k for k in svc.settings if then.get(k) != svc.settings[k])
        if changed:
            report.problem(label, f"pid {rec.pid} runs with other settings than now ("
                           + ", ".join(f"{k} was {then.get(k)!r}, now {svc.settings[k]!r}"
                                       for k in changed) + ").\nFix: make down && make up")
            return False
        # one that an interrupted `make up` started may still be loading
        starting = svc.timeout - (time.time() - rec.started_at)
        deadline = time.monotonic() + max(RUNNING_TIMEOUT, starting)
        while not svc.ready(0):
            if time.monotonic() > deadline:
                report.problem(label, f"pid {rec.pid} runs but does not answer"
                               f"{' at ' + svc.url if svc.url else ''} (see "
                               f"{paths.show(log)}).\nFix: make down && make up")
                return False
            time.sleep(1)
        where = f", {svc.url}" if svc.url else ""
        report.line(label, f"already running: pid {rec.pid}{where}")
        return True
    if rec is not None:
        _stale(run, rec, label, report)
    if svc.port is not None and listening(svc.port):
        owner = port_owner(svc.port)
        who = f" (pid {owner[0]}: {owner[1][:100]})" if owner else ""
        if owner and _ours(owner[0], senv, svc.marker):
            fix = (f"it is a {svc.managed.title} of an earlier `make up` whose PID file is gone:"
                   f" kill -- -{_pgid(owner[0])}   (its process group), then make up")
        else:
            fix = f"stop that process, or {svc.other_port}"
        report.problem(label, f"port {svc.port} is in use by another process{who}.\nFix: {fix}")
        return False
    if svc.port is None:
        known = {r.pid for r in run}
        strays = _stray(senv, svc.marker, known)
        if strays:
            groups = sorted({_pgid(p) for p in strays})
            report.problem(label, f"a {svc.managed.title} of this repo that `make up` does not "
                           f"know runs (pid {', '.join(map(str, strays))}); two of them would "
                           f"launch the same runs.\nFix: "
                           + "; ".join(f"kill -- -{g}" for g in groups) + ", then make up")
            return False
    started = time.monotonic()
    since = time.time()
    details: dict[str, object] = {"settings": dict(svc.settings)}
    if svc.port is not None:
        details.update(port=svc.port, url=svc.url)
    rec = spawn(run, name, svc.argv, log=log, cwd=paths.root, env=senv.env, details=details)
    report.line(label, f"starting pid {rec.pid} (log {paths.show(log)})")
    while True:
        if process_cmdline(rec.pid) is None:
            stop_group(rec.pid)
            run.remove(name)
            report.problem(label, f"{svc.managed.title} exited while starting; the end of "
                           f"{paths.show(log)}:\n{tail(log)}")
            return False
        if svc.ready(since):
            break
        if time.monotonic() - started > svc.timeout:
            stop_group(rec.pid)
            run.remove(name)
            report.problem(label, f"{svc.managed.title} did not become ready within "
                           f"{svc.timeout:.0f} s and was stopped; the end of {paths.show(log)}:"
                           f"\n{tail(log)}")
            return False
        time.sleep(0.5)
    report.started.append(name)
    where = f", {svc.url}" if svc.url else ""
    report.change(label, f"started: pid {rec.pid}{where}, ready in "
                  f"{time.monotonic() - started:.1f} s")
    return True


# -- Dagster ----------------------------------------------------------------------------------

@dataclass
class DagsterStatus:
    url: str = ""
    host: str = "127.0.0.1"
    port: int = 3000
    webserver: bool = False
    daemon: bool = False
    location_error: str = ""           # the code location does not load: why

    @property
    def can_launch(self) -> bool:
        return self.webserver and self.daemon and not self.location_error

    @property
    def graphql_url(self) -> str:
        return f"{self.url}/graphql"


_WORKSPACE = """{ workspaceOrError { __typename
  ... on Workspace { locationEntries { name loadStatus
      locationOrLoadError { __typename ... on PythonError { message } } } }
  ... on PythonError { message } } }"""

_DAEMONS = """{ instance { daemonHealth { allDaemonStatuses {
  daemonType required healthy lastHeartbeatTime } } } }"""


def location_error(gql_url: str, timeout: float = 120) -> str:
    """'' when the code location loaded, else why not (waits while it is loading)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            data = graphql(gql_url, _WORKSPACE)["workspaceOrError"]
        except RuntimeError as exc:
            return str(exc)
        if data["__typename"] != "Workspace":
            return str(data.get("message") or data["__typename"])
        entries = {e["name"]: e for e in data["locationEntries"]}
        entry = entries.get(LOCATION)
        if entry is None:
            return f"workspace.yaml has no code location named {LOCATION}"
        loaded = entry.get("locationOrLoadError") or {}
        if loaded.get("__typename") == "PythonError":
            return str(loaded.get("message") or "PythonError").strip()
        if loaded.get("__typename") == "RepositoryLocation":
            return ""
        if time.monotonic() > deadline:
            return f"still {entry.get('loadStatus')} after {timeout:.0f} s"
        time.sleep(1)


def daemon_healthy(gql_url: str, since: float) -> bool:
    """Every required daemon has a heartbeat since SINCE (the daemons of a previous
    dagster-daemon stay 'healthy' for a while after it stopped)."""
    try:
        statuses = graphql(gql_url, _DAEMONS)["instance"]["daemonHealth"]["allDaemonStatuses"]
    except (RuntimeError, KeyError, TypeError):
        return False
    required = [s for s in statuses if s.get("required")]
    return bool(required) and all(
        s.get("healthy") and (s.get("lastHeartbeatTime") or 0) >= since for s in required)


def dagster_endpoint(config: DRConfig) -> tuple[str, int] | None:
    """Host and port of the webserver from [api] dagster_url, when it is on this machine."""
    parts = urlsplit(config.api.dagster_url)
    if parts.hostname not in LOCAL_HOSTS:
        return None
    return "127.0.0.1", parts.port or (443 if parts.scheme == "https" else 80)


def ensure_dagster(config: DRConfig, senv: StackEnv, report: Report) -> DagsterStatus:
    status = DagsterStatus()
    endpoint = dagster_endpoint(config)
    if endpoint is None:
        report.problem("dagster", f"[api] dagster_url = {config.api.dagster_url} is not on this "
                       "machine: `make up` starts no Dagster (unset DAGSTER_URL for the local one)")
        return status
    status.host, status.port = endpoint
    status.url = f"http://{status.host}:{status.port}"
    if not ensure_dagster_db(senv, report):
        return status
    workspace = "workspace.yaml"
    if not (report.paths.root / workspace).is_file():
        report.problem("dagster", f"{workspace} is missing beside dr.toml: restore it from git")
        return status
    server_info = f"{status.url}/server_info"
    settings = {"DAGSTER_HOME": senv.env["DAGSTER_HOME"], "DR_CONFIG": senv.env["DR_CONFIG"],
                "Dagster database": senv.dagster_db.safe_url}
    webserver = Service(
        WEBSERVER, "webserver",
        [str(venv_bin("dagster-webserver")), "-h", status.host, "-p", str(status.port),
         "-w", workspace],
        marker="dagster-webserver", port=status.port, url=status.url,
        ready=lambda since: http_status(server_info, timeout=3) == 200,
        timeout=WEBSERVER_TIMEOUT, settings=settings,
        other_port=f"run the webserver on another port, for make up and the API alike: "
                   f"export DAGSTER_URL=http://127.0.0.1:{status.port + 1}",
    )
    status.webserver = ensure_service(webserver, senv, report)
    if not status.webserver:
        return status
    status.location_error = location_error(status.graphql_url)
    if status.location_error:
        first = status.location_error.splitlines()[0][:300]
        report.problem("dagster", f"code location {LOCATION} does not load: {first}\n"
                       f"Fix the code, then reload it: {status.url}/locations (Reload), "
                       "or make down && make up")
    gql = status.graphql_url
    daemon = Service(
        DAEMON, "daemon", [str(venv_bin("dagster-daemon")), "run", "-w", workspace],
        marker="dagster-daemon", ready=lambda since: daemon_healthy(gql, since),
        timeout=DAEMON_TIMEOUT, settings=settings,
    )
    status.daemon = ensure_service(daemon, senv, report)
    return status


# -- the API ----------------------------------------------------------------------------------

@dataclass
class ApiStatus:
    url: str = ""
    running: bool = False
    missing: bool = False              # graphql_api/app.py is not written yet


def api_port(env: Mapping[str, str]) -> int:
    raw = env.get(API_PORT_ENV, "")
    try:
        return int(raw) if raw else DEFAULT_API_PORT
    except ValueError:
        return DEFAULT_API_PORT


def ensure_api(config: DRConfig, senv: StackEnv, report: Report) -> ApiStatus:
    port = api_port(senv.env)
    status = ApiStatus(url=f"http://127.0.0.1:{port}")
    app_file = report.paths.root / "graphql_api" / "app.py"
    if not app_file.is_file():
        status.missing = True
        run = RunDir(report.paths)
        rec = run.get(API.name)
        if rec is not None and rec.alive():
            report.line("api", f"{report.paths.show(app_file)} is gone but pid {rec.pid} still "
                        "serves the API: `make down` stops it")
        else:
            report.line("api", f"not available yet ({report.paths.show(app_file)} does not "
                        "exist): not started")
        return status
    healthz = f"{status.url}/healthz"
    api = Service(
        API, "api",
        [str(venv_bin("uvicorn")), "--factory", "graphql_api.app:create_app",
         "--host", "127.0.0.1", "--port", str(port)],
        marker="graphql_api.app:create_app", port=port, url=f"{status.url}/graphql",
        ready=lambda since: http_status(healthz, timeout=3) == 200, timeout=API_TIMEOUT,
        other_port=f"serve the API on another port: {API_PORT_ENV}={port + 1} make up",
        settings={"DR_CONFIG": senv.env["DR_CONFIG"], "dagster_url": config.api.dagster_url},
    )
    status.running = ensure_service(api, senv, report)
    return status
