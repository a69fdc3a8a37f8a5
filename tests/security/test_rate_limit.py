"""Issue 15, item 3: callers without a token, or with a refused one, are limited per client
address (429 with Retry-After); callers with a valid token, other addresses and /healthz
are not. Before: a flood from one address was served in full, every bad token wrote an
audit row."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from graphql_api.rate_limit import ClientBuckets, retry_after
from tests.support.api import client_from
from tests.support.pg import run_sql
from tests.support.stack import Stack, start_api

RATE, BURST = 5, 10  # small, so the test floods past them in a second
REFUSED_RATE, REFUSED_BURST = 2, 4
STATUS = "/api/v1/disaster-recovery/status/global"


@pytest.fixture
def limited_api(stack: Stack, tmp_path: Path) -> Iterator[str]:
    server = start_api(stack.config_copy(tmp_path, api_lines=(
        f"anonymous_rate = {RATE}", f"anonymous_burst = {BURST}",
        f"refused_rate = {REFUSED_RATE}", f"refused_burst = {REFUSED_BURST}")))
    yield server.url
    server.stop()


def test_an_anonymous_flood_gets_429_while_others_are_served(stack: Stack, limited_api: str
                                                             ) -> None:
    viewer = {"Authorization": f"Bearer {stack.token('viewer')}"}
    flooder, other = client_from(), client_from("127.0.0.2")

    def flood(i: int) -> httpx.Response:
        if i % 2:
            return flooder.post(f"{limited_api}/graphql",
                                json={"query": "{ globalStatus { healthScore } }"})
        return flooder.get(f"{limited_api}{STATUS}")

    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(flood, range(80)))
        # Meanwhile: a good token from the same address, the flooder's /healthz.
        authenticated = [flooder.get(f"{limited_api}{STATUS}", headers=viewer)
                         for _ in range(20)]
        healthz = [flooder.get(f"{limited_api}/healthz") for _ in range(20)]
    elapsed = time.monotonic() - started
    served = [r for r in answers if r.status_code == 200]
    limited = [r for r in answers if r.status_code == 429]
    assert len(served) + len(limited) == len(answers)
    assert BURST <= len(served) <= BURST + RATE * elapsed + 1, (len(served), elapsed)
    for resp in limited:
        assert int(resp.headers["Retry-After"]) >= 1
        assert "too many requests without a token" in resp.json()["errors"][0]["message"]
    assert [r.status_code for r in authenticated] == [200] * 20
    assert [r.status_code for r in healthz] == [200] * 20
    # Another address has a bucket of its own; the flooder is served again once it refills.
    assert other.get(f"{limited_api}{STATUS}").status_code == 200
    time.sleep(1.0 / RATE + 0.05)
    assert flooder.get(f"{limited_api}{STATUS}").status_code == 200


def _refused_rows(stack: Stack) -> int:
    return int(run_sql(stack.catalog_db, "SELECT count(*) FROM dr.audit_log"  # type: ignore[arg-type]
                       " WHERE action = 'authenticate'")[0][0])


def test_refused_tokens_are_limited_before_they_are_audited(stack: Stack, limited_api: str
                                                            ) -> None:
    before = _refused_rows(stack)
    bad = {"Authorization": "Bearer not-a-token"}
    with client_from("127.0.3.1") as client:  # a source no other test refused a token from
        started = time.monotonic()
        codes = [client.get(f"{limited_api}{STATUS}", headers=bad).status_code
                 for _ in range(30)]
        elapsed = time.monotonic() - started
        assert client.get(f"{limited_api}{STATUS}",
                          headers={"Authorization": f"Bearer {stack.token('viewer')}"}
                          ).status_code == 200
    refused = codes.count(401)
    assert codes[:REFUSED_BURST] == [401] * REFUSED_BURST and 429 in codes
    assert refused <= REFUSED_BURST + REFUSED_RATE * elapsed + 1
    # A 429 writes no row, and refusals after the first of a minute from one source are
    # summarised when the minute is over (test_audit_flood.py): one row, or two when the
    # requests straddled a minute.
    assert 1 <= _refused_rows(stack) - before <= 2


def test_buckets_refill_at_their_rate_and_say_how_long_to_wait() -> None:
    now = [100.0]  # the buckets' clock, moved by hand
    buckets = ClientBuckets(rate=2, burst=3, clock=lambda: now[0])
    assert [buckets.take("a") for _ in range(3)] == [None] * 3
    wait = buckets.take("a")
    assert wait == pytest.approx(0.5) and retry_after(wait) == "1"
    assert buckets.take("b") is None  # per client
    now[0] += 0.5
    assert buckets.take("a") is None and buckets.take("a") is not None
    now[0] += 60
    assert [buckets.take("a") for _ in range(4)].count(None) == 3  # never above the burst
    assert ClientBuckets(rate=0, burst=1).take("a") is None  # 0: no limit
    assert buckets.limited == 3
