"""Session-wide services for API tests: one app database, a Dagster webserver and daemon on
a throwaway instance database, and the API served by a real uvicorn on a free port."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import uvicorn
import yaml

from dr_assets.core.access.tokens import mint_token
from dr_assets.core.policy import load_config
from dr_assets.devstack import seaweed
from graphql_api.app import create_app
from tests.support.env import write_config
from tests.support.pg import PG_URL, REPO, admin_exec, drop_db, run_sql

JWT_SECRET = "test-" + secrets.token_hex(24)
UNLIMITED = ("anonymous_rate = 0", "refused_rate = 0")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float, proc: subprocess.Popen[bytes] | None = None,
              log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited: {log.read_text()[-2000:] if log else ''}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


@dataclass
class Stack:
    root: Path
    config_path: Path
    app_db: str
    catalog_db: str
    dagster_db: str
    dagster_url: str
    api_url: str
    processes: list[subprocess.Popen[bytes]]

    def token(self, role: str, subject: str = "tester", ttl: int = 600) -> str:
        return mint_token(JWT_SECRET, load_config(self.config_path).api, subject, role, ttl)

    def config_copy(self, directory: Path, dagster_url: str | None = None,
                    api_lines: tuple[str, ...] = ()) -> Path:
        """This stack's dr.toml (same catalog and stores) written to `directory`, with another
        Dagster URL and extra [api] keys (in place of the stack's own of the same name), for
        a second API beside the stack's own."""
        text = self.config_path.read_text()
        api = f'dagster_url = "{dagster_url or self.dagster_url}"'
        redefined = {line.split("=")[0].strip() for line in api_lines}
        text = "".join(line for line in text.splitlines(keepends=True)
                       if line.split("=")[0].strip() not in redefined)
        text = text.replace(f'dagster_url = "{self.dagster_url}"', "\n".join((api, *api_lines)))
        text = text.replace('key_file = "keys/', f'key_file = "{self.root}/keys/')
        text = text.replace('path = "local-backups"', f'path = "{self.root}/local-backups"')
        config = directory / "dr.toml"
        config.write_text(text)
        return config


def dagster_yaml(url: str) -> str:
    """The repo's dagster_home/dagster.yaml (its run queue, limits and pools) with the
    storage of a throwaway instance database at URL."""
    instance = yaml.safe_load((REPO / "dagster_home" / "dagster.yaml").read_text())
    instance["storage"] = {"postgres": {"postgres_url": url}}
    return str(yaml.safe_dump(instance, sort_keys=False))


def start_dagster(root: Path, config_path: Path, dagster_db: str, port: int
                  ) -> list[subprocess.Popen[bytes]]:
    """A Dagster webserver on PORT and a daemon, on the instance database DAGSTER_DB (it
    must exist) with the repo's run queue and pools, loading the code location of
    CONFIG_PATH; returned once the webserver answers (its logs under ROOT/logs)."""
    home = root / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(dagster_yaml(
        f"postgresql+psycopg2://postgres@127.0.0.1:5432/{dagster_db}"))
    env = {**os.environ, "DAGSTER_HOME": str(home), "DR_CONFIG": str(config_path),
           "DR_JWT_SECRET": JWT_SECRET}
    bin_dir = Path(sys.executable).parent
    logs = root / "logs"
    logs.mkdir()
    procs = []
    web_log = logs / "webserver.log"
    procs.append(subprocess.Popen(
        [str(bin_dir / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(port),
         "-w", str(REPO / "workspace.yaml")],
        cwd=REPO, env=env, stdout=web_log.open("wb"), stderr=subprocess.STDOUT,
        start_new_session=True))
    daemon_log = logs / "daemon.log"
    procs.append(subprocess.Popen(
        [str(bin_dir / "dagster-daemon"), "run", "-w", str(REPO / "workspace.yaml")],
        cwd=REPO, env=env, stdout=daemon_log.open("wb"), stderr=subprocess.STDOUT,
        start_new_session=True))
    try:
        wait_http(f"http://127.0.0.1:{port}/server_info", 120, procs[0], web_log)
    except BaseException:
        _stop_processes(procs)
        raise
    return procs


def start_stack(root: Path, s3: seaweed.SeaweedServer) -> Stack:
    tag = secrets.token_hex(3)
    app_db, catalog_db, dagster_db = f"drt_api_shop_{tag}", f"drt_api_catalog_{tag}", f"drt_dagster_{tag}"
    for db in (app_db, dagster_db):
        admin_exec(f'CREATE DATABASE "{db}"')
    run_sql(app_db, """
        CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL);
        INSERT INTO customers (name) SELECT 'c' || g FROM generate_series(1, 5000) g;
    """)
    dagster_port, api_port = free_port(), free_port()
    config_path = write_config(root, s3, f"api{tag}", catalog_db, {"shop": app_db})
    with config_path.open("a") as fh:
        fh.write(f'[api]\ndagster_url = "http://127.0.0.1:{dagster_port}"\n')
        # Every test calls from 127.0.0.1, many without a token or with a bad one on
        # purpose: the per-client limits are tested on APIs of their own (tests/security).
        fh.write("".join(f"{line}\n" for line in UNLIMITED))
    procs = start_dagster(root, config_path, dagster_db, dagster_port)
    try:
        os.environ["DR_JWT_SECRET"] = JWT_SECRET
        server = uvicorn.Server(uvicorn.Config(create_app(str(config_path)), host="127.0.0.1",
                                               port=api_port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        wait_http(f"http://127.0.0.1:{api_port}/healthz", 30)
        stack = Stack(root, config_path, app_db, catalog_db, dagster_db,
                      f"http://127.0.0.1:{dagster_port}", f"http://127.0.0.1:{api_port}", procs)
    except BaseException:
        _stop_processes(procs)  # a failed start leaves no webserver or daemon behind
        raise
    stack._uvicorn = (server, thread)  # type: ignore[attr-defined]
    return stack


def _stop_processes(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
    for proc in procs:
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def stop_stack(stack: Stack) -> None:
    server, thread = stack._uvicorn  # type: ignore[attr-defined]
    server.should_exit = True
    thread.join(10)
    _stop_processes(stack.processes)
    for db in (stack.app_db, stack.catalog_db, stack.dagster_db):
        drop_db(db)
    run_sql("postgres", "SELECT 1")
    _ = PG_URL


@dataclass
class ApiServer:
    """An extra API served by uvicorn in a thread (the stack's own is started above)."""

    url: str
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def start_api(config_path: Path) -> ApiServer:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(str(config_path)), host="127.0.0.1",
                                           port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_http(f"http://127.0.0.1:{port}/healthz", 30)
    return ApiServer(f"http://127.0.0.1:{port}", server, thread)
