"""Issue 15, item 3: an operation's cost and its numeric arguments are checked before it
runs. Before: 32 cache-missing variants of one public query with 30 aliases of
backupTimeline(days: 366) were all executed (the alias, depth and token limits held), and
out-of-range numbers reached the resolvers (acknowledgeAlert(id: 0), REST ?limit=-5)."""

from __future__ import annotations

import re
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import GraphQLInt, GraphQLObjectType, get_named_type, parse

from dr_assets.core.errors import ConfigError
from dr_assets.core.policy import ApiConfig, load_config
from graphql_api.cost import BOUNDS, INT_MAX, operation_cost
from graphql_api.rest import field_document
from graphql_api.schema import schema
from graphql_api.status_page.routes import page
from tests.core.test_policy import GOOD
from tests.docs.test_docs import OPERATIONS_FOUND
from tests.support.stack import Stack, start_api

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from api_load import QUERIES

LIMIT = ApiConfig().max_query_cost
PAGE = ApiConfig().max_page_size
ALIASED = " ".join(f"t{i}: backupTimeline(days: 366) {{ app succeeded failed }}"
                   for i in range(30))


def _status_page_query() -> str:
    html, _ = page()
    found = re.search(r"var QUERY = (.*?);\n", html, re.S)
    assert found is not None
    return "".join(re.findall(r'"([^"]*)"', found.group(1)))


def shipped_operations() -> list[tuple[str, str, dict[str, Any] | None]]:
    """(where, document, variables) of every query the project ships or documents."""
    from graphql import print_ast

    rest_backups = field_document("query", "backups", "(app: $app, status: $status, first: $first)",
                                  "($app: String, $status: String, $first: Int!)")
    ops: list[tuple[str, str, dict[str, Any] | None]] = [
        ("status page", _status_page_query(), None),
        *((f"bench/api_load.py {name}", query, None) for name, _, query in QUERIES),
        (f"REST backups?limit={PAGE}", rest_backups, {"first": PAGE}),
        *((f"REST {field}", field_document("query", field), None)
          for field in ("globalStatus", "restores", "healthCheck", "dashboardMetrics",
                        "executiveSummary", "apps", "healthOverview")),
    ]
    return ops + [(where, print_ast(doc), None) for where, doc in OPERATIONS_FOUND]


@pytest.mark.parametrize(("where", "query", "variables"), shipped_operations(),
                         ids=[w for w, _, _ in shipped_operations()])
def test_every_shipped_query_is_within_the_default_cost_limit(
        where: str, query: str, variables: dict[str, Any] | None) -> None:
    cost = operation_cost(schema._schema, parse(query), None, variables, PAGE)
    assert cost is not None and 0 < cost <= LIMIT, (where, cost)


def test_every_int_argument_of_the_schema_has_bounds() -> None:
    declared = set()
    for type_ in schema._schema.type_map.values():
        if isinstance(type_, GraphQLObjectType) and not type_.name.startswith("__"):
            for name, field in type_.fields.items():
                declared |= {f"{type_.name}.{name}.{arg}" for arg, a in field.args.items()
                             if get_named_type(a.type) is GraphQLInt}
    assert declared == set(BOUNDS)


@pytest.fixture
def costly_api(stack: Stack, tmp_path: Path) -> Iterator[str]:
    """An API of its own, the per-client limit off: the cost limit alone is tested."""
    server = start_api(stack.config_copy(tmp_path, api_lines=("anonymous_rate = 0",)))
    yield server.url
    server.stop()


def test_a_flood_of_aliased_expensive_queries_is_refused_by_cost_and_healthz_stays_fast(
        costly_api: str) -> None:
    # Whitespace makes every variant miss the response cache, as in the report.
    variants = ["{" + " " * (i + 1) + ALIASED + " }" for i in range(32)]
    healthz: list[float] = []
    done = threading.Event()

    def sample() -> None:
        with httpx.Client(timeout=30) as client:
            while not done.is_set():
                started = time.monotonic()
                assert client.get(f"{costly_api}/healthz").status_code == 200
                healthz.append(time.monotonic() - started)

    def send(query: str) -> dict[str, Any]:
        resp = httpx.post(f"{costly_api}/graphql", json={"query": query}, timeout=60)
        assert resp.status_code == 200, resp.text
        return resp.json()  # type: ignore[no-any-return]

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        with ThreadPoolExecutor(32) as pool:
            answers = list(pool.map(send, variants))
    finally:
        done.set()
        sampler.join()
    for body in answers:
        assert body["data"] is None
        [error] = body["errors"]
        assert error["extensions"]["code"] == "QUERY_TOO_COSTLY"
        assert error["extensions"]["limit"] == LIMIT and error["extensions"]["cost"] > LIMIT
        assert f"query cost {error['extensions']['cost']} is over the limit of {LIMIT}" in (
            error["message"])
    assert healthz and max(healthz) < 2.0, f"/healthz took up to {max(healthz):.1f} s"
    # The same query with a few aliases is within the limit and answers.
    few = " ".join(f"t{i}: backupTimeline(days: 30) {{ app }}" for i in range(3))
    body = send("{ " + few + " }")
    assert not body.get("errors") and len(body["data"]) == 3


def _bounded(key: str) -> tuple[str, str, str, int, int]:
    type_name, field, arg = key.split(".")
    bound = BOUNDS[key]
    return type_name, field, arg, bound.low, bound.top(PAGE)


@pytest.mark.parametrize("key", sorted(BOUNDS))
def test_numeric_arguments_out_of_range_are_refused_before_anything_runs(
        stack: Stack, key: str) -> None:
    type_name, field, arg, low, high = _bounded(key)
    op = "mutation" if type_name == "Mutation" else "query"
    admin = stack.token("admin")
    values = [low - 1, -1] + ([high + 1] if high < INT_MAX else [])
    for value in values:
        for query, variables in (
                (f"{op} {{ {field}({arg}: {value}) {{ __typename }} }}", None),
                (f"{op}($v: Int!) {{ {field}({arg}: $v) {{ __typename }} }}", {"v": value})):
            resp = httpx.post(f"{stack.api_url}/graphql", timeout=30,
                              json={"query": query, "variables": variables},
                              headers={"Authorization": f"Bearer {admin}"})
            body = resp.json()
            assert body.get("data") is None, (query, value, body)
            [error] = body["errors"]
            assert error["message"] == (
                f"{field}: {arg} must be between {low} and {high}, got {value}")
            assert error["extensions"]["code"] == "ARGUMENT_OUT_OF_RANGE"


def test_the_rest_limit_is_a_whole_number_within_the_page_size(stack: Stack) -> None:
    headers = {"Authorization": f"Bearer {stack.token('viewer')}"}
    url = f"{stack.api_url}/api/v1/disaster-recovery/backups"
    whole = f"limit must be a whole number from 1 to {PAGE}"
    for limit, says in (("-5", whole), ("abc", whole), ("1e9", whole), ("0", whole),
                        (str(PAGE + 1), whole)):
        resp = httpx.get(url, params={"limit": limit}, headers=headers, timeout=30)
        assert resp.status_code == 400 and says in resp.json()["error"], (limit, resp.text)
    assert httpx.get(url, params={"limit": "2"}, headers=headers, timeout=30).status_code == 200


@pytest.mark.parametrize(("line", "key"), [
    ("max_query_cost = 5", "api.max_query_cost"), ("max_page_size = 1000000000", "api.max_page_size"),
    ("max_page_size = 0", "api.max_page_size"), ("anonymous_rate = -1", "api.anonymous_rate"),
    ("refused_burst = 0", "api.refused_burst")])
def test_limits_in_dr_toml_are_validated(tmp_path: Path, line: str, key: str) -> None:
    config = tmp_path / "dr.toml"
    config.write_text(GOOD.replace("${SCHOLARSHIP_URL}", "postgresql://127.0.0.1/s")
                      + f"[api]\n{line}\n")
    with pytest.raises(ConfigError, match=re.escape(key)):
        load_config(config)
