"""Queries answer from the catalog; REST twins answer the same facts; bad ids are typed."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx

from dr_assets.core.drills.drill import run_drill
from dr_assets.core.runtime import DRRuntime
from graphql_api.export_schema import SDL_PATH, sdl
from tests.support.api import data, gql
from tests.support.env import verified_backups
from tests.support.stack import Stack


def _seed(stack: Stack, n: int) -> list[str]:
    rt = DRRuntime.load(str(stack.config_path))
    return [m.backup_id for m in verified_backups(rt, "shop", n)]


def test_schema_sdl_is_committed_and_current() -> None:
    assert Path(SDL_PATH).read_text() == sdl(), "run: python -m graphql_api.export_schema"


def test_backups_connection_pages_without_gaps(stack: Stack) -> None:
    made = _seed(stack, 3)
    viewer = stack.token("viewer")
    seen: list[str] = []
    after = None
    while True:
        page = data(stack, """query($after: String) { backups(app: "shop", first: 2, after: $after) {
            totalCount pageInfo { hasNextPage endCursor }
            edges { node { backupId status verified copies { destination status verifiedOk } } } } }""",
                    {"after": after}, viewer)["backups"]
        seen += [e["node"]["backupId"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert set(made) <= set(seen) and len(seen) == len(set(seen)) == page["totalCount"]
    one = data(stack, "query($id: ID!) { backup(id: $id) { backupId sha256 verified rowCounts "
                      "copies { destination verifiedOk } } }", {"id": made[0]}, viewer)["backup"]
    assert one["verified"] is True and one["rowCounts"] == {"public.customers": 5000}
    assert {c["destination"]: c["verifiedOk"] for c in one["copies"]} == {"local": True, "s3": True}


def test_drills_say_where_they_ran(stack: Stack) -> None:
    rt = DRRuntime.load(str(stack.config_path))
    verified_backups(rt, "shop")
    result = run_drill(rt.config.app("shop"), stores=rt.stores, keyring=rt.keyring,
                       catalog=rt.catalog, settings=rt.config.drills)
    assert result.passed, result.error
    [drill] = data(stack, """{ drills(app: "shop", first: 1) { id target instanceStartSeconds
                                 serverVersion restoreSeconds scratchDropped } }""",
                   token=stack.token("viewer"))["drills"]
    assert drill == {"id": result.drill_id, "target": "isolated",
                     "instanceStartSeconds": result.instance_start_seconds,
                     "serverVersion": result.server_version,
                     "restoreSeconds": result.restore_seconds, "scratchDropped": True}
    # The public status says which kind of drill it was, and no more about the server.
    last = data(stack, '{ app(name: "shop") { lastDrill { id target } } }')["app"]["lastDrill"]
    assert last == {"id": result.drill_id, "target": "isolated"}


def test_malformed_ids_and_cursors_are_clear_errors(stack: Stack) -> None:
    viewer = stack.token("viewer")
    for query, needle in (
        ('{ backup(id: "../../etc") { backupId } }', "is not a backup id"),
        ('{ backups(after: "!!!") { totalCount } }', "malformed cursor"),
        ('{ backups(app: "payroll") { totalCount } }', "unknown app"),
        ('{ backups(first: 100000) { totalCount } }', "first must be between"),
    ):
        body = gql(stack, query, token=viewer).json()
        assert needle in body["errors"][0]["message"], (query, body)
    assert data(stack, '{ app(name: "payroll") { name } }')["app"] is None
    assert data(stack, '{ backup(id: "shop-20200101T000000Z-abcd") { backupId } }',
                token=viewer)["backup"] is None


def test_query_size_limits(stack: Stack) -> None:
    """The schema has no cycles (depth is bounded by construction, and capped at 6); what a
    hostile client can still inflate is aliases and tokens, and both are capped."""
    aliases = "{ " + " ".join(f"a{i}: healthCheck {{ ok }}" for i in range(40)) + " }"
    body = gql(stack, aliases).json()
    assert "aliases" in body["errors"][0]["message"].lower()
    huge = "{ " + " ".join(["globalStatus { healthScore }"] * 600) + " }"
    body = gql(stack, huge).json()
    assert "token" in body["errors"][0]["message"].lower()
    assert gql(stack, "{ apps { name lastBackup { backupId } policy { critical } } }").status_code == 200


def project(body: Any, shape: Any) -> Any:
    """The part of a full REST body that a GraphQL selection asked for."""
    if isinstance(shape, dict):
        return {k: project(body[k], v) for k, v in shape.items()}
    if isinstance(shape, list) and shape:
        return [project(b, shape[0]) for b in body]
    return body


def test_rest_endpoints_answer_the_same_facts_as_graphql(stack: Stack) -> None:
    _seed(stack, 1)
    viewer = stack.token("viewer")
    headers = {"Authorization": f"Bearer {viewer}"}
    base = f"{stack.api_url}/api/v1"
    twins = {
        "/disaster-recovery/status/global": ("{ globalStatus { healthScore status appsTotal "
                                             "storageBytes backups24h { succeeded failed } } }",
                                             "globalStatus"),
        "/disaster-recovery/status/shop": ('{ app(name: "shop") { name healthScore rpoMet '
                                           "backupCount storageBytes } }", "app"),
        "/disaster-recovery/metrics/dashboard": ("{ dashboardMetrics { totalBackups "
                                                 "successRate7d storageBytes } }",
                                                 "dashboardMetrics"),
        "/dashboard/executive-summary": ("{ executiveSummary { healthScore status headline "
                                         "rpoCompliancePct } }", "executiveSummary"),
        "/dashboard/health-overview": ("{ healthOverview { score status apps { app score } } }",
                                       "healthOverview"),
        "/disaster-recovery/restores": ("{ restores { id status } }", "restores"),
        "/disaster-recovery/health-check": ("{ healthCheck { ok } }", "healthCheck"),
        "/dashboard/disaster-recovery/status": ("{ apps { name healthScore } }", "apps"),
    }
    for path, (query, field) in twins.items():
        rest = httpx.get(f"{base}{path}", headers=headers, timeout=30)
        assert rest.status_code == 200, (path, rest.text)
        graph = data(stack, query, token=viewer)[field]
        assert project(rest.json(), graph) == graph, path
    rest = httpx.get(f"{base}/disaster-recovery/backups?limit=5", headers=headers, timeout=30)
    graph = data(stack, "{ backups(first: 5) { edges { node { backupId sha256 } } } }",
                 token=viewer)["backups"]
    assert [e["node"]["backupId"] for e in rest.json()["edges"]] == [
        e["node"]["backupId"] for e in graph["edges"]]
    assert httpx.get(f"{base}/disaster-recovery/status/payroll", timeout=30).status_code == 404
    assert httpx.get(f"{base}/disaster-recovery/backups", timeout=30).status_code == 403


def test_healthz_and_metrics(stack: Stack) -> None:
    _seed(stack, 1)
    assert httpx.get(f"{stack.api_url}/healthz").json() == {"ok": True}
    text = httpx.get(f"{stack.api_url}/metrics").text
    for name in ("dr_backup_last_success_timestamp_seconds", "dr_backup_age_seconds",
                 "dr_health_score", "dr_backup_stored_bytes", "dr_backup_failures_24h",
                 "dr_global_health_score"):
        assert f'{name}{{app="shop"}}' in text or f"{name} " in text, name
    assert "dr_api_catalog_change_feed_up 1.0" in text
    assert "dr_api_worker_threads 16.0" in text  # the default [api] worker_threads
    busy = re.search(r"^dr_api_worker_threads_busy (\S+)$", text, re.M)
    assert busy and 1 <= float(busy.group(1)) <= 16  # the scrape runs in a worker itself
    assert 'dr_api_response_cache_answers_total{outcome="hit"}' in text
    assert "_created" not in text
