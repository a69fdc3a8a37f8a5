"""The response cache: identical queries share one execution per role, and any write to the
catalog (by any process) drops the shared answers at once, long before they expire."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from dr_assets.core.runtime import DRRuntime
from graphql_api.response_cache import request_key
from tests.support.stack import Stack, start_api

LONG_TTL = 60  # answers would live a minute: only the change feed can explain a fresh one


@pytest.fixture
def long_cache_api(stack: Stack, tmp_path: Path) -> Iterator[str]:
    config = stack.config_copy(tmp_path, api_lines=(f"response_cache_seconds = {LONG_TTL}",))
    server = start_api(config)
    yield server.url
    server.stop()


def ask(url: str, query: str, token: str | None = None,
        variables: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    resp = httpx.post(f"{url}/graphql", json={"query": query, "variables": variables},
                      headers=headers, timeout=30)
    assert resp.status_code == 200, resp.text
    return resp.headers["x-dr-cache"], resp.json()


def unique(query: str) -> str:
    """The same query under a fresh alias, so no earlier test left it cached."""
    return "{ a" + secrets.token_hex(4) + ": " + query.strip()[1:]


def test_a_catalog_write_by_another_process_drops_cached_answers_at_once(
        stack: Stack, long_cache_api: str) -> None:
    query = unique("{ globalStatus { activeAlerts } }")
    first_state, first = ask(long_cache_api, query)
    second_state, second = ask(long_cache_api, query)
    assert (first_state, second_state) == ("miss", "hit") and first == second
    before = next(iter(first["data"].values()))["activeAlerts"]

    catalog = DRRuntime.load(str(stack.config_path)).catalog  # as a Dagster run would write
    alert_id = catalog.open_alert("shop", f"cache_test_{secrets.token_hex(3)}", "warning", "test")
    assert alert_id is not None
    try:
        deadline, state, answer = time.monotonic() + 5, "hit", first
        while state == "hit" and time.monotonic() < deadline:
            time.sleep(0.02)
            state, answer = ask(long_cache_api, query)
        assert state == "miss", f"still served the cached answer 5 s after the write ({LONG_TTL} s TTL)"
        assert next(iter(answer["data"].values()))["activeAlerts"] == before + 1
        assert ask(long_cache_api, query) == ("hit", answer)
    finally:
        catalog.resolve_alert(alert_id)


def test_rest_twins_share_the_cache_and_its_invalidation(stack: Stack,
                                                         long_cache_api: str) -> None:
    url = f"{long_cache_api}/api/v1/disaster-recovery/status/global"
    first, second = httpx.get(url, timeout=30), httpx.get(url, timeout=30)
    assert second.headers["x-dr-cache"] == "hit" and first.json() == second.json()
    catalog = DRRuntime.load(str(stack.config_path)).catalog
    alert_id = catalog.open_alert("shop", f"cache_test_{secrets.token_hex(3)}", "warning", "rest")
    assert alert_id is not None
    try:
        deadline, resp = time.monotonic() + 5, second
        while resp.headers["x-dr-cache"] == "hit" and time.monotonic() < deadline:
            time.sleep(0.02)
            resp = httpx.get(url, timeout=30)
        assert resp.headers["x-dr-cache"] == "miss"
        assert resp.json()["activeAlerts"] == first.json()["activeAlerts"] + 1
    finally:
        catalog.resolve_alert(alert_id)
    health = f"{long_cache_api}/api/v1/disaster-recovery/health-check"
    assert httpx.get(health, timeout=30).headers["x-dr-cache"] == "bypass"


def test_a_burst_of_identical_queries_executes_once(stack: Stack, long_cache_api: str) -> None:
    query = unique("{ apps { name healthScore backupCount } }")
    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(lambda _: ask(long_cache_api, query), range(12)))
    assert len({json.dumps(a[1], sort_keys=True) for a in answers}) == 1
    assert sorted(a[0] for a in answers).count("miss") == 1, [a[0] for a in answers]


def test_roles_never_share_answers_and_errors_are_not_kept(stack: Stack,
                                                         long_cache_api: str) -> None:
    query = unique("{ backups(first: 1) { totalCount } }")
    viewer = stack.token("viewer")
    assert ask(long_cache_api, query, viewer)[0] == "miss"
    state, answer = ask(long_cache_api, query, viewer)
    assert state == "hit" and "errors" not in answer
    for _ in range(2):  # the same text without a token: refused, every time, never from cache
        state, refused = ask(long_cache_api, query)
        assert state == "miss" and "needs the viewer role" in refused["errors"][0]["message"]


def test_live_fields_and_mutations_are_always_executed(stack: Stack, long_cache_api: str) -> None:
    viewer, admin = stack.token("viewer"), stack.token("admin")
    run = '{ run(id: "0123456789abcdef") { __typename } }'
    assert [ask(long_cache_api, run, viewer)[0] for _ in range(2)] == ["bypass", "bypass"]
    status = unique("{ globalStatus { healthScore } }")
    ask(long_cache_api, status)
    assert ask(long_cache_api, status)[0] == "hit"
    state, _ = ask(long_cache_api, "mutation { acknowledgeAlert(id: 999999999) { __typename } }",
                   admin)
    assert state == "bypass"
    assert ask(long_cache_api, status)[0] == "miss"  # the mutation dropped what was kept


def test_a_large_body_is_executed_not_kept(long_cache_api: str) -> None:
    padding = {"pad": "x" * 70_000}  # undeclared variables are ignored by GraphQL
    for _ in range(2):
        resp = httpx.post(f"{long_cache_api}/graphql", timeout=30, json={
            "query": "{ globalStatus { healthScore } }", "variables": padding})
        assert resp.status_code == 200 and resp.headers["x-dr-cache"] == "bypass"
        assert resp.json()["data"]["globalStatus"]["healthScore"] >= 0


def test_what_may_be_cached() -> None:
    body = b'{"query": "{ globalStatus { healthScore } }"}'
    key, kind = request_key("public", body)
    assert kind == "query" and key is not None and key != request_key("viewer", body)[0]
    for text, kind in (
        (b'{"query": "mutation { createBackup(app: \\"x\\") { __typename } }"}', "mutation"),
        (b'{"query": "{ run(id: \\"1\\") { __typename } }"}', "live"),
        (b'{"query": "{ healthCheck { ok } }"}', "live"),
        (b'{"query": "{ ...F } fragment F on Query { apps { name } }"}', "live"),
        (b'{"query": "{ globalStatus {"}', None),
        (b'[{"query": "{ apps { name } }"}]', None),
        (b'{"query": "{ apps { name } }", "variables": [1]}', None),
        (b"not json", None),
    ):
        assert request_key("viewer", text) == (None, kind), text
