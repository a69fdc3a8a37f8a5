"""Issue 15, item 3: a refused mutation leaves the shared answers cached. Before: any
mutation, even an anonymous one answered NotAllowed, dropped every kept answer (and so
did its audit row, through the catalog's change feed), so a stream of refused mutations
kept every dashboard query executing."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dr_assets.core.runtime import DRRuntime
from tests.support.api import ask, unique
from tests.support.stack import Stack, start_api

FEED_DELAY = 0.5  # a catalog write's notification reaches the API well within this


@pytest.fixture
def long_cache_api(stack: Stack, tmp_path: Path) -> Iterator[str]:
    server = start_api(stack.config_copy(tmp_path, api_lines=("response_cache_seconds = 60",)))
    yield server.url
    server.stop()


def _settled(url: str, query: str) -> None:
    deadline = time.monotonic() + 5
    while ask(url, query)[0] != "hit":
        assert time.monotonic() < deadline, "the answer was never kept"
        time.sleep(0.05)


def test_refused_mutations_and_tokens_leave_cached_answers_cached(
        stack: Stack, long_cache_api: str) -> None:
    catalog = DRRuntime.load(str(stack.config_path)).catalog
    alert_id = catalog.open_alert("shop", f"refused_{secrets.token_hex(3)}", "warning", "test")
    assert alert_id is not None
    try:
        query = unique("{ globalStatus { activeAlerts } }")
        _settled(long_cache_api, query)
        refused = [
            (None, 'mutation { createBackup(app: "shop") { __typename } }'),
            (stack.token("viewer"), 'mutation { scheduleDrill(app: "shop") { __typename } }'),
            (stack.token("operator"), f"mutation {{ acknowledgeAlert(id: {alert_id}) "
                                      "{ __typename } }"),
            (stack.token("admin"), 'mutation { createBackup(app: "nope") { __typename } }'),
        ]
        for token, mutation in refused:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            resp = httpx.post(f"{long_cache_api}/graphql", json={"query": mutation},
                              headers=headers, timeout=30)
            assert resp.json()["data"], resp.text
            assert next(iter(resp.json()["data"].values()))["__typename"] in (
                "NotAllowed", "UnknownApp")
        rest = httpx.post(f"{long_cache_api}/api/v1/disaster-recovery/backup/shop", timeout=30)
        assert rest.status_code == 403
        bad = httpx.post(f"{long_cache_api}/graphql", json={"query": query}, timeout=30,
                         headers={"Authorization": "Bearer forged"})
        assert bad.status_code == 401
        time.sleep(FEED_DELAY)  # their audit rows have been notified by now
        assert ask(long_cache_api, query)[0] == "hit"

        # One that goes through still drops what is kept.
        ack = f"mutation {{ acknowledgeAlert(id: {alert_id}) {{ __typename }} }}"
        _, body = ask(long_cache_api, ack, stack.token("admin"))
        assert body["data"]["acknowledgeAlert"]["__typename"] == "AlertAcknowledged"
        assert ask(long_cache_api, query)[0] == "miss"
    finally:
        catalog.resolve_alert(alert_id)
