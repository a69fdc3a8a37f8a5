"""restoreToPointInTime over real HTTP against a real streamed server and the stack's Dagster:
a viewer, an app without a server, a target outside the window the stores hold, an existing
target database and malformed or missing targets are typed refusals, audited, and launch no
run; a request inside the window passes every check and goes to the launcher."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from dr_assets.core.access.tokens import mint_token
from dr_assets.core.format.manifest import iso, parse_time
from dr_assets.core.policy import load_config
from tests.support.pg import run_sql
from tests.support.pitr import PitrEnv
from tests.support.recovery import base_backup, streaming, switch_wal, tick, until_held
from tests.support.stack import JWT_SECRET, Stack, free_port, start_api

PITR = """mutation($input: PointInTimeRestoreInput!) { restoreToPointInTime(input: $input) {
  __typename ... on RunLaunched { runId job message } ... on UnknownApp { message }
  ... on InvalidInput { message } ... on NotAllowed { message }
  ... on DagsterUnavailable { message } } }"""
RESTORE_RUNS = '{ runsOrError(filter: {pipelineName: "restore_job"}) { ... on Runs { count } } }'


def _with_api(env: PitrEnv, name: str, dagster_url: str) -> Path:
    """The environment's dr.toml beside it, with another app (no server) and a Dagster URL."""
    path = env.config_path.with_name(name)
    path.write_text(env.config_path.read_text() + "\n".join([
        "[apps.ledger]", f'database_url = "{env.url("postgres")}"', "rto_hours = 4",
        "rpo_hours = 24", "every_hours = 6", "retention_days = 90",
        "[api]", f'dagster_url = "{dagster_url}"']) + "\n")
    return path


class Api:
    def __init__(self, config: Path) -> None:
        self.config = config
        self.server = start_api(config)

    def ask(self, role: str, **fields: Any) -> dict[str, Any]:
        resp = httpx.post(f"{self.server.url}/graphql", timeout=60,
                          headers={"Authorization": f"Bearer {self.token(role)}"},
                          json={"query": PITR, "variables": {"input": fields}})
        assert resp.status_code == 200 and not resp.json().get("errors"), resp.text
        return resp.json()["data"]["restoreToPointInTime"]  # type: ignore[no-any-return]


    def post(self, role: str, body: dict[str, Any]) -> httpx.Response:
        return httpx.post(f"{self.server.url}/api/v1/disaster-recovery/point-in-time-restore/shop",
                          json=body, timeout=60, headers={"Authorization": f"Bearer {self.token(role)}"})

    def token(self, role: str) -> str:
        return mint_token(JWT_SECRET, load_config(self.config).api, "ada", role, 600)


def _audited(env: PitrEnv) -> list[tuple[object, ...]]:
    return run_sql(env.env.catalog_db, "SELECT role, result FROM dr.audit_log WHERE action = "
                                       "'restoreToPointInTime' ORDER BY id")


def _restore_runs(stack: Stack) -> int:
    resp = httpx.post(f"{stack.dagster_url}/graphql", json={"query": RESTORE_RUNS}, timeout=30)
    return int(resp.json()["data"]["runsOrError"]["count"])


def test_point_in_time_restores_are_checked_before_launching(
        stack: Stack, pitr_env: PitrEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DR_JWT_SECRET", JWT_SECRET)
    env = pitr_env
    rt = env.env.runtime()
    with streaming(env):
        base = base_backup(env)
        tick(env, 3, "x")
        until_held(rt, {switch_wal(env)})
    started = parse_time(base.started_at)

    api = Api(_with_api(env, "dr-api.toml", stack.dagster_url))
    runs_before = _restore_runs(stack)
    try:
        refusals = [
            ("viewer", {"app": "shop", "targetDatabase": "shop_then", "toLatest": True},
             "NotAllowed", "needs the admin role"),
            ("admin", {"app": "ledger", "targetDatabase": "ledger_then", "toLatest": True},
             "InvalidInput", "app ledger has no continuous protection"),
            ("admin", {"app": "shop", "targetDatabase": "shop_then",
                       "toTime": "2099-01-01T00:00:00Z"},
             "InvalidInput", "after the newest WAL the stores hold"),
            ("admin", {"app": "shop", "targetDatabase": "shop_then",
                       "toTime": iso(started - timedelta(hours=1))},
             "InvalidInput", "before the earliest base backup"),
            ("admin", {"app": "shop", "targetDatabase": "shop_then", "toLsn": "FF/0"},
             "InvalidInput", "beyond the newest WAL"),
            ("admin", {"app": "shop", "targetDatabase": "shop", "toLatest": True},
             "InvalidInput", "database shop already exists"),
            ("admin", {"app": "shop", "targetDatabase": "shop_then", "toLsn": "0/xyz"},
             "InvalidInput", "not a WAL position"),
            ("admin", {"app": "shop", "targetDatabase": "shop_then",
                       "toTime": "2026-11-20T06:00:00"}, "InvalidInput", "no time zone"),
            ("admin", {"app": "shop", "targetDatabase": "shop_then", "toLatest": True,
                       "toLsn": "0/3000060"}, "InvalidInput", "give exactly one target"),
            ("admin", {"app": "shop", "targetDatabase": "shop_then", "toLatest": False},
             "InvalidInput", "no target given"),
            ("admin", {"app": "shop", "targetDatabase": 'x"; DROP DATABASE shop; --',
                       "toLatest": True}, "InvalidInput", "database name"),
            ("admin", {"app": "payroll", "targetDatabase": "p", "toLatest": True},
             "UnknownApp", "known apps are ledger, shop"),
        ]
        for role, fields, kind, needle in refusals:
            out = api.ask(role, **fields)
            assert out["__typename"] == kind and needle in out["message"], (fields, out)
        assert _audited(env) == [(role, kind) for role, _, kind, _ in refusals]
        # The REST twin: the same checks, with HTTP statuses.
        for role, body, status in (
                ("admin", {"target_database": "shop_then", "to_time": "2099-01-01T00:00:00Z"},
                 422),
                ("viewer", {"target_database": "shop_then", "to_latest": True}, 403),
                ("admin", {"target_database": "shop_then", "to_latest": "yes"}, 400),
                ("admin", {"to_latest": True}, 400),
                ("admin", {"target_database": "shop_then", "to_time": "yesterday"}, 400)):
            resp = api.post(role, body)
            assert resp.status_code == status, (body, resp.text)
        assert _audited(env)[-2:] == [("admin", "InvalidInput"), ("viewer", "NotAllowed")]
        assert _restore_runs(stack) == runs_before  # nothing reached Dagster
    finally:
        api.server.stop()
    assert not env.sql("SELECT 1 FROM pg_database WHERE datname LIKE '%_then'", "postgres")
    assert rt.catalog.list_restores() == []

    # Inside the window every check passes and the run goes to the launcher (here a Dagster
    # that answers nothing: launching it into the stack's would run it against its dr.toml).
    api = Api(_with_api(env, "dr-nodagster.toml", f"http://127.0.0.1:{free_port()}"))
    try:
        out = api.ask("admin", app="shop", targetDatabase="shop_then", toLatest=True)
        assert out["__typename"] == "DagsterUnavailable", out
        assert "did not launch restore_job" in out["message"]
        assert _audited(env)[-1] == ("admin", "DagsterUnavailable")
    finally:
        api.server.stop()
