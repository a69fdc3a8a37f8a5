"""A slow dependency delays only its own callers: catalog, store and Dagster calls run in a
bounded worker pool, off the event loop, and healthCheck probes with a timeout and keeps its
answer for a few seconds.

Every request here is real HTTP to a uvicorn serving the API in a thread of this process
(its own event loop); the requests come from other threads, so a blocked event loop would
show as /healthz not answering. The slow catalog is a real lock: another session holds
ACCESS EXCLUSIVE on dr.backups, so the API's queries of it wait in PostgreSQL.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg2
import pytest
from strawberry.types.base import get_object_definition

from dr_assets.core.catalog import Catalog
from dr_assets.core.names import new_backup_id
from graphql_api.schema import Mutation, Query
from graphql_api.workers import OffTheLoop
from tests.support.api import ask, unique
from tests.support.faults import SilentListener
from tests.support.pg import PG_URL, drop_db, run_sql
from tests.support.stack import Stack, start_api
from tests.support.waiting import wait_for

WORKERS = 2
BACKUPS = 3  # in the catalog of the API with two workers
HEALTH_TIMEOUT = 1
HEALTH_KEEP = 3
HEALTH = "{ healthCheck { ok checkedAt components { name ok detail } } }"


@dataclass
class Api:
    url: str
    catalog_db: str


@pytest.fixture
def two_workers(stack: Stack, tmp_path: Path) -> Iterator[Api]:
    """An API with two workers on a catalog of its own (created on start), which nothing
    else writes to: what it keeps in its response cache stays kept."""
    catalog_db = f"drt_slow_catalog_{secrets.token_hex(3)}"
    config = stack.config_copy(tmp_path, api_lines=("response_cache_seconds = 60",
                                                    f"worker_threads = {WORKERS}"))
    config.write_text(config.read_text().replace(stack.catalog_db, catalog_db))
    server = start_api(config)
    catalog = Catalog(f"{PG_URL}/{catalog_db}")
    now = datetime.now(UTC)
    for hours in range(BACKUPS):
        backup_id = new_backup_id("shop", now - timedelta(hours=hours))
        catalog.begin_backup(backup_id, "shop", now - timedelta(hours=hours), None, None)
        catalog.fail_backup(backup_id, "a test row", now)
    yield Api(server.url, catalog_db)
    server.stop()
    drop_db(catalog_db)


def waiting_on_locks(db: str) -> int:
    rows = run_sql("postgres", "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                               f"'{db}' AND wait_event_type = 'Lock'")
    return int(str(rows[0][0]))


def timed(call: Callable[[], Any]) -> tuple[float, Any]:
    started = time.monotonic()
    result = call()
    return time.monotonic() - started, result


def test_a_catalog_query_held_by_a_lock_delays_only_its_own_callers(
        stack: Stack, two_workers: Api) -> None:
    url, db, viewer = two_workers.url, two_workers.catalog_db, stack.token("viewer")
    status = unique("{ globalStatus { healthScore appsTotal } }")
    assert wait_for(lambda: ask(url, status)[0] == "hit"), "globalStatus is never kept"
    kept = ask(url, status)

    answers: dict[str, httpx.Response] = {}
    backups = [unique("{ backups(first: 1) { totalCount } }") for _ in range(3)]
    asks: dict[str, Callable[[], httpx.Response]] = {
        **{f"backups{i}": (lambda q=q: httpx.post(
            f"{url}/graphql", json={"query": q}, timeout=60,
            headers={"Authorization": f"Bearer {viewer}"})) for i, q in enumerate(backups)},
        "metrics": lambda: httpx.get(f"{url}/metrics", timeout=60),
        "timeline": lambda: httpx.get(f"{url}/status/timeline.svg", timeout=60),
    }
    locker = psycopg2.connect(f"{PG_URL}/{db}")
    callers: list[threading.Thread] = []
    try:
        with locker.cursor() as cur:
            cur.execute("LOCK TABLE dr.backups IN ACCESS EXCLUSIVE MODE")
        for name, call in asks.items():
            callers.append(threading.Thread(target=lambda n=name, c=call: answers.update({n: c()})))
            callers[-1].start()
        assert wait_for(lambda: waiting_on_locks(db) >= WORKERS), \
            "the API's catalog queries never reached the lock"
        time.sleep(0.5)  # the other callers wait for a worker, not on a connection of their own
        assert waiting_on_locks(db) == WORKERS

        healthz_seconds, healthz = timed(lambda: httpx.get(f"{url}/healthz", timeout=5))
        cached_seconds, cached = timed(lambda: ask(url, status))
        assert healthz.status_code == 200 and healthz.json() == {"ok": True}
        assert cached == kept
        assert healthz_seconds < 1 and cached_seconds < 1, (healthz_seconds, cached_seconds)
        assert all(t.is_alive() for t in callers) and not answers, "a caller got past the lock"
    finally:
        locker.rollback()
        locker.close()
        for t in callers:
            t.join(30)

    assert set(answers) == set(asks)
    counts = set()
    for i in range(len(backups)):
        body = answers[f"backups{i}"].json()
        assert answers[f"backups{i}"].status_code == 200 and not body.get("errors"), body
        counts.add(next(iter(body["data"].values()))["totalCount"])
    assert counts == {BACKUPS}
    assert answers["metrics"].status_code == 200
    assert "dr_global_health_score" in answers["metrics"].text
    assert answers["timeline"].status_code == 200
    assert answers["timeline"].text.lstrip().startswith("<svg")


def health(url: str, token: str) -> dict[str, Any]:
    """healthCheck as a viewer (anonymous callers get no detail)."""
    resp = httpx.post(f"{url}/graphql", json={"query": HEALTH}, timeout=30,
                      headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200 and not resp.json().get("errors"), resp.text
    return resp.json()["data"]["healthCheck"]  # type: ignore[no-any-return]


def test_health_check_names_a_silent_dagster_in_time_and_keeps_its_answer(
        stack: Stack, tmp_path: Path) -> None:
    dagster = SilentListener()
    config = stack.config_copy(tmp_path, dagster_url=dagster.url, api_lines=(
        f"health_timeout_seconds = {HEALTH_TIMEOUT}", f"health_keep_seconds = {HEALTH_KEEP}"))
    server = start_api(config)
    viewer = stack.token("viewer")
    try:
        took, first = timed(lambda: health(server.url, viewer))
        answered_at = time.monotonic()
        assert took < HEALTH_TIMEOUT + 1.5, f"healthCheck took {took:.1f} s"
        components = {c["name"]: c for c in first["components"]}
        assert first["ok"] is False and components["dagster"]["ok"] is False
        assert (f"no answer within {HEALTH_TIMEOUT} s" in components["dagster"]["detail"]
                or "unreachable" in components["dagster"]["detail"]), components["dagster"]
        up = {name for name, c in components.items() if c["ok"]}
        assert up == set(components) - {"dagster"} and "catalog" in up, components
        assert wait_for(lambda: dagster.accepted == 1, 2) and dagster.accepted == 1

        with ThreadPoolExecutor(max_workers=6) as pool:  # a flood inside the keep window
            flood = list(pool.map(lambda _: health(server.url, viewer), range(6)))
        rest = httpx.get(f"{server.url}/api/v1/disaster-recovery/health-check", timeout=30)
        assert time.monotonic() - answered_at < HEALTH_KEEP, "the machine was too slow to tell"
        assert all(answer == first for answer in flood)
        assert rest.json()["checkedAt"] == first["checkedAt"]
        assert dagster.accepted == 1, "probed again inside the keep window"

        time.sleep(max(0.0, HEALTH_KEEP - (time.monotonic() - answered_at)) + 0.1)
        later = health(server.url, viewer)
        assert later["checkedAt"] != first["checkedAt"]
        assert wait_for(lambda: dagster.accepted == 2, 2), "not probed again after the keep window"
    finally:
        server.stop()
        dagster.close()


def test_every_root_field_but_health_check_runs_in_the_workers() -> None:
    """Synchronous root resolvers carry OffTheLoop; an async one would run on the event loop,
    so only healthCheck (which probes in threads of its own) is one."""
    on_the_loop = {f.name for root in (Query, Mutation)
                   for f in get_object_definition(root, strict=True).fields
                   if not any(isinstance(e, OffTheLoop) for e in f.extensions)}
    assert on_the_loop == {"health_check"}


def test_a_burst_beyond_the_workers_waits_its_turn_and_all_answer(
        stack: Stack, two_workers: Api) -> None:
    """More catalog callers than workers (and catalog connections): they queue for a worker
    instead of failing on an exhausted connection pool."""
    viewer = stack.token("viewer")
    queries = [f"{{ a{secrets.token_hex(4)}: recentActivity(hours: 24) {{ kind }} }}"
               for _ in range(4 * WORKERS)]
    with ThreadPoolExecutor(max_workers=len(queries)) as pool:
        answers = list(pool.map(lambda q: ask(two_workers.url, q, viewer), queries))
    assert [state for state, _ in answers] == ["miss"] * len(queries)
    assert all("errors" not in body for _, body in answers), answers
