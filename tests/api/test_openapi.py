"""/openapi.json describes the REST routes as they are served (one declaration,
rest.ENDPOINTS), schemathesis finds no 5xx and no answer outside the document for any
role, and every status the document names is one the route really answers."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi import checks as openapi_checks
from starlette.routing import Route

from dr_assets.core.policy import load_config
from dr_assets.core.runtime import DRRuntime
from graphql_api.app import create_app
from graphql_api.rest import ENDPOINTS, V1, Endpoint
from tests.support.env import verified_backups
from tests.support.stack import ApiServer, Stack, free_port, start_api

ROLES = ("anonymous", "viewer", "operator", "admin")
EXAMPLES = 8  # generated requests per operation, each sent as every role
BIG = b'{"target_database": "' + b"x" * 1_100_000 + b'"}'


@pytest.fixture(scope="module")
def rest_api(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """An API on the stack's catalog whose Dagster answers nothing (so no mutation runs:
    a launch is answered 503) and with no rate limits (schemathesis sends many requests)."""
    server = start_api(stack.config_copy(
        tmp_path_factory.mktemp("openapi"), dagster_url=f"http://127.0.0.1:{free_port()}",
        api_lines=("anonymous_rate = 0", "refused_rate = 0")))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def limited_api(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    server = start_api(stack.config_copy(
        tmp_path_factory.mktemp("openapi-limited"),
        dagster_url=f"http://127.0.0.1:{free_port()}",
        api_lines=("anonymous_rate = 1", "anonymous_burst = 1", "refused_rate = 1",
                   "refused_burst = 1")))
    yield server
    server.stop()


def test_the_document_names_every_route_and_only_them(stack: Stack) -> None:
    doc = httpx.get(f"{stack.api_url}/openapi.json", timeout=30).json()
    assert doc["openapi"].startswith("3.1")
    served = {(method, r.path) for r in create_app(str(stack.config_path)).routes
              if isinstance(r, Route) and r.path.startswith("/api/")
              for method in (r.methods or ()) if method != "HEAD"}
    documented = {(m.upper(), path) for path, ops in doc["paths"].items() for m in ops}
    assert served == documented
    for endpoint in ENDPOINTS:
        op = doc["paths"][endpoint.path][endpoint.method.lower()]
        assert sorted(int(s) for s in op["responses"]) == sorted(endpoint.statuses)
        assert {p["name"] for p in op["parameters"] if p["in"] == "path"} == set(
            part[1:-1] for part in endpoint.path.split("/") if part.startswith("{"))


def test_rest_answers_as_documented_for_every_role(stack: Stack, rest_api: ApiServer
                                                   ) -> None:
    """schemathesis over every operation of the document, each generated request sent once
    per role: no 5xx, no status, content type or body the document does not describe."""
    schema = schemathesis.openapi.from_url(f"{rest_api.url}/openapi.json")
    checks = [schemathesis.checks.not_a_server_error, openapi_checks.status_code_conformance,
              openapi_checks.content_type_conformance,
              openapi_checks.response_schema_conformance]
    headers = {role: {} if role == "anonymous" else {
        "Authorization": f"Bearer {stack.token(role)}"} for role in ROLES}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == len(ENDPOINTS)
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case: schemathesis.Case) -> None:
            for role in ROLES:
                case.call_and_validate(headers=headers[role], checks=checks)

        check()


def _probes(endpoint: Endpoint, stack: Stack, url: str, backup_id: str
            ) -> Iterator[httpx.Response]:
    """Requests meant to draw each answer the route can give."""
    names = {"app_name": ["shop", "nope", "Bad Name"], "backup_id": [
        backup_id, "shop-20260101T000000Z-beef", "not-an-id"]}
    paths = [endpoint.path]
    for name, values in names.items():
        if "{" + name + "}" in endpoint.path:
            paths = [p.replace("{" + name + "}", v) for p in paths for v in values]
    bodies = [None] if endpoint.body is None else [
        b"{}", json.dumps({"target_database": "shop_copy"}).encode(),
        json.dumps({"target_database": "shop_copy", "to_latest": True}).encode(),
        json.dumps({"target_database": "template1", "to_latest": True}).encode(),
        json.dumps({"target_database": 5}).encode()]
    queries = [""] if not endpoint.query else ["", "?limit=abc", "?limit=5&app=shop"]
    with httpx.Client(base_url=url, timeout=60) as client:
        for role in ROLES:
            headers = {} if role == "anonymous" else {
                "Authorization": f"Bearer {stack.token(role)}"}
            for path in paths:
                for query in queries:
                    for body in bodies:
                        yield client.request(endpoint.method, path + query, content=body,
                                             headers=headers)
        yield client.request(endpoint.method, paths[0], headers={
            "Authorization": "Bearer not-a-token"})
        yield client.request(endpoint.method, paths[0], content=BIG, headers={
            "Authorization": f"Bearer {stack.token('admin')}"})


# A launch that Dagster accepts (202) is drawn here for backups only (a real backup run on
# the stack's own Dagster); the 202 of a restore is tests/api/test_mutations.py's, of a
# drill test_drill_mutation's, and a point-in-time restore needs a protected server
# (tests/api/test_point_in_time_restore.py): here the 503 stands for "would launch".
ELSEWHERE = {("POST", f"{V1}/restore/{{backup_id}}"): {202},
             ("POST", f"{V1}/test-restore/{{app_name}}"): {202},
             ("POST", f"{V1}/point-in-time-restore/{{app_name}}"): {202, 503}}


@pytest.fixture(scope="module")
def shop_backup(stack: Stack) -> str:
    [backup] = verified_backups(DRRuntime(load_config(stack.config_path)), "shop")
    return backup.backup_id


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: f"{e.method} {e.path}")
def test_every_documented_status_is_real(endpoint: Endpoint, stack: Stack, rest_api: ApiServer,
                                         limited_api: ApiServer, shop_backup: str) -> None:
    seen = {r.status_code for r in _probes(endpoint, stack, rest_api.url, shop_backup)}
    if endpoint.path == f"{V1}/backup/{{app_name}}":
        launched = httpx.post(f"{stack.api_url}{V1}/backup/shop", timeout=60,
                              headers={"Authorization": f"Bearer {stack.token('operator')}"})
        seen.add(launched.status_code)
    with httpx.Client(base_url=limited_api.url, timeout=30) as client:
        path = endpoint.path.replace("{app_name}", "shop").replace("{backup_id}", "x")
        seen |= {client.request(endpoint.method, path).status_code for _ in range(3)}
    documented = set(endpoint.statuses)
    elsewhere = ELSEWHERE.get((endpoint.method, endpoint.path), set())
    assert seen <= documented and documented - seen <= elsewhere, (
        f"seen {sorted(seen)}, documented {sorted(documented)}")
