"""The response cache: identical queries share one execution per role, and any write to the
catalog (by any process) drops the shared answers at once, long before they expire."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from starlette.responses import JSONResponse, Response

from dr_assets.core.runtime import DRRuntime
from graphql_api import rest
from graphql_api import state as api_state
from graphql_api.response_cache import Answer, ResponseCache, request_key
from graphql_api.state import ApiState
from tests.support.api import ask, unique
from tests.support.stack import Stack, start_api

LONG_TTL = 60  # answers would live a minute: only the change feed can explain a fresh one


@pytest.fixture
def long_cache_api(stack: Stack, tmp_path: Path) -> Iterator[str]:
    config = stack.config_copy(tmp_path, api_lines=(f"response_cache_seconds = {LONG_TTL}",))
    server = start_api(config)
    yield server.url
    server.stop()


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


def test_a_burst_of_identical_rest_requests_is_answered_once(stack: Stack,
                                                            long_cache_api: str) -> None:
    url = f"{long_cache_api}/api/v1/dashboard/executive-summary"
    headers = {"Authorization": f"Bearer {stack.token('viewer')}"}
    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(lambda _: httpx.get(url, headers=headers, timeout=30), range(12)))
    assert {a.status_code for a in answers} == {200}
    assert len({a.content for a in answers}) == 1
    states = [a.headers["x-dr-cache"] for a in answers]
    assert states.count("miss") == 1, states
    assert all("age" in a.headers for a in answers if a.headers["x-dr-cache"] == "hit")


def test_concurrent_misses_wait_for_one_execution() -> None:
    """The single flight GraphQL and REST share: twelve callers, one execution, and an
    answer with errors goes to the callers that waited for it but is not kept."""
    cache = ResponseCache(60, lambda: 0)
    executions = []

    async def execute() -> Answer:
        executions.append(1)
        await asyncio.sleep(0.05)  # the others arrive while this one runs
        return Answer(200, ((b"content-type", b"application/json"),), b'{"ok": 1}',
                      clean=len(executions) > 1)

    async def burst() -> list[str]:
        responses = await asyncio.gather(*(cache.answer("k", execute) for _ in range(12)))
        return [r.headers["x-dr-cache"] for r in responses]

    assert sorted(asyncio.run(burst())) == ["hit"] * 11 + ["miss"]
    assert len(executions) == 1 and (cache.hits, cache.misses) == (11, 1)
    assert asyncio.run(burst()).count("miss") == 1 and len(executions) == 2  # not kept: unclean
    assert asyncio.run(burst()) == ["hit"] * 12 and len(executions) == 2  # clean: kept


def test_concurrent_rest_misses_execute_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Deterministic where a real burst is not (the resolvers hold the event loop, so real
    requests seldom overlap an execution): here each execution lets the others in. A
    mutation through REST then drops what was kept when it went through (its action tells
    the cache, as operations.actions does), not when it was refused."""
    executions = []
    outcomes = ["NotAllowed", "RunLaunched"]

    async def execute(request: object, op: str, field: str, document: str,
                      variables: object) -> Response:
        executions.append(field)
        await asyncio.sleep(0.05)
        if op == "mutation":
            cache.mutated(outcomes.pop(0))
        return JSONResponse({"healthScore": 100})

    monkeypatch.setattr(rest, "_execute", execute)
    cache = ResponseCache(LONG_TTL, lambda: 0)
    request = SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(api=SimpleNamespace(
        response_cache=cache))), state=SimpleNamespace(principal=SimpleNamespace(role="admin")),
        path_params={"app_name": "shop"})

    executive_summary = rest.query_twin("executiveSummary")

    async def burst() -> list[Response]:
        return list(await asyncio.gather(*(executive_summary(request) for _ in range(12))))

    responses = asyncio.run(burst())
    assert executions == ["executiveSummary"]
    assert sorted(r.headers["x-dr-cache"] for r in responses) == ["hit"] * 11 + ["miss"]
    assert {bytes(r.body) for r in responses} == {b'{"healthScore":100}'}
    assert asyncio.run(executive_summary(request)).headers["x-dr-cache"] == "hit"
    assert asyncio.run(rest.post_backup(request)).headers["x-dr-cache"] == "bypass"
    assert asyncio.run(executive_summary(request)).headers["x-dr-cache"] == "hit"  # refused
    assert asyncio.run(rest.post_backup(request)).headers["x-dr-cache"] == "bypass"
    assert asyncio.run(executive_summary(request)).headers["x-dr-cache"] == "miss"
    assert executions == ["executiveSummary", "createBackup", "createBackup", "executiveSummary"]


@pytest.mark.parametrize("answer_seconds", [LONG_TTL, 0])  # kept even with answers off
def test_estate_follows_the_answers_invalidation(answer_seconds: float,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    computed: list[object] = []

    def estate_status(config: object, catalog: object) -> object:
        computed.append(object())
        return computed[-1]

    monkeypatch.setattr(api_state, "estate_status", estate_status)
    feed = [0]
    cache = ResponseCache(answer_seconds, lambda: feed[0])
    state = ApiState(runtime=SimpleNamespace(config=None, catalog=None), verifier=None,
                     launcher=None, changes=None, response_cache=cache, workers=None,
                     health=None)
    first = state.estate()
    assert state.estate() is first and len(computed) == 1
    feed[0] += 1  # a catalog write by any process
    second = state.estate()
    assert second is not first and state.estate() is second
    cache.invalidate()  # a mutation through this API
    third = state.estate()
    assert third is not second and state.estate() is third
    monkeypatch.setattr(api_state, "STATUS_TTL_SECONDS", 0.0)  # and its own time limit
    assert state.estate() is not third


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
    # No such alert, yet its UPDATE of no row still notifies the change feed, which drops
    # what was kept (refused mutations, which write nothing, keep it: tests/security).
    assert ask(long_cache_api, status)[0] == "miss"


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
