"""Production posture of the API (issue 15, item 7): no schema for anonymous callers unless
`[api] public_introspection`, one known role per token, 4xx for every query parameter that
does not parse, and a public healthCheck that names components but not where they are."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from dr_assets.core.policy import load_config
from tests.support.api import gql, gql_from
from tests.support.env import BUCKET
from tests.support.pg import run_sql
from tests.support.stack import JWT_SECRET, ApiServer, Stack, start_api

INTROSPECTIONS = {
    "schema": "{ __schema { queryType { name } } }",
    "type": '{ __type(name: "Query") { fields { name } } }',
    "in a fragment": "query { ...F } fragment F on Query { __schema { types { name } } }",
    "beside a public field": "{ globalStatus { healthScore } __schema { types { name } } }",
}


@pytest.fixture
def open_schema_api(stack: Stack, tmp_path: Path) -> Iterator[ApiServer]:
    """A second API on the stack's catalog with `[api] public_introspection = true`."""
    server = start_api(stack.config_copy(tmp_path, api_lines=("public_introspection = true",)))
    yield server
    server.stop()


def _post(url: str, query: str, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(f"{url}/graphql", json={"query": query}, headers=headers, timeout=30)


def _graphiql(url: str, token: str | None = None) -> httpx.Response:
    headers = {"Accept": "text/html", **({"Authorization": f"Bearer {token}"} if token else {})}
    return httpx.get(f"{url}/graphql", headers=headers, timeout=30)


def test_anonymous_callers_get_no_schema_and_no_graphiql(stack: Stack) -> None:
    for name, query in INTROSPECTIONS.items():
        body = _post(stack.api_url, query).json()
        assert body.get("data") is None, (name, body)
        assert "introspection is off for anonymous callers" in body["errors"][0]["message"], name
        assert "public_introspection" in body["errors"][0]["message"]
    # GET runs the same way as POST.
    got = httpx.get(f"{stack.api_url}/graphql", params={"query": INTROSPECTIONS["type"]},
                    timeout=30).json()
    assert got.get("data") is None and "introspection is off" in got["errors"][0]["message"]
    # __typename names a type the caller receives anyway: it stays.
    body = _post(stack.api_url, "{ globalStatus { __typename healthScore } }").json()
    assert body["data"]["globalStatus"]["__typename"] == "GlobalStatus", body
    page = _graphiql(stack.api_url)
    assert page.status_code == 404 and "graphiql" not in page.text.lower().replace(
        "graphiql is off", ""), page.text[:300]
    assert "public_introspection" in page.text

    viewer = stack.token("viewer")
    for name, query in INTROSPECTIONS.items():
        body = _post(stack.api_url, query, viewer).json()
        assert not body.get("errors") and body["data"], (name, body)
    page = _graphiql(stack.api_url, viewer)
    assert page.status_code == 200 and "graphiql" in page.text.lower()


def test_public_introspection_opens_schema_and_graphiql(open_schema_api: ApiServer) -> None:
    for name, query in INTROSPECTIONS.items():
        body = _post(open_schema_api.url, query).json()
        assert not body.get("errors") and body["data"], (name, body)
    page = _graphiql(open_schema_api.url)
    assert page.status_code == 200 and "graphiql" in page.text.lower()


def _claims(stack: Stack, **role: object) -> dict[str, Any]:
    api = load_config(stack.config_path).api
    now = int(time.time())
    return {"iss": api.jwt_issuer, "aud": api.jwt_audience, "sub": "mallory", "iat": now,
            "exp": now + 600, **role}


def _refused_authentications(stack: Stack) -> list[str]:
    rows = run_sql(stack.catalog_db, "SELECT detail FROM dr.audit_log WHERE action = "
                                     "'authenticate' AND result = 'refused' ORDER BY id")
    return [str(r[0]) for r in rows]


def test_a_role_claim_that_is_not_one_known_string_is_refused_and_audited(stack: Stack) -> None:
    bad: dict[str, dict[str, object]] = {
        "a list of one": {"role": ["admin"]},
        "a list of several": {"role": ["viewer", "admin"]},
        "a number": {"role": 3},
        "null": {"role": None},
        "an object": {"role": {"admin": True}},
        "a lookalike name": {"role": "Admin"},
        "an unknown name": {"role": "superuser"},
        "no claim at all": {},
    }
    before = len(_refused_authentications(stack))
    for i, (name, role) in enumerate(bad.items()):
        token = jwt.encode(_claims(stack, **role), JWT_SECRET)
        # From a source of its own: the first refused token of a minute from a source is
        # audited at once (the rest are summarised when the minute is over).
        address = f"127.0.4.{i + 1}"
        resp = gql_from(address, stack.api_url, "{ auditLog(first: 1) { entries { id } } }",
                        token)
        assert resp.status_code == 401, (name, resp.text)
        message = resp.json()["errors"][0]["message"]
        assert "'role' claim" in message and "viewer, operator, admin" in message, (
            name, message)
        # Even for the public fields: a token is either valid or refused, never ignored.
        public = gql_from(address, stack.api_url, "{ globalStatus { healthScore } }", token)
        assert public.status_code == 401, (name, public.text)
    refused = _refused_authentications(stack)[before:]
    assert len(refused) >= len(bad) and all("'role' claim" in d for d in refused), refused
    ok = gql(stack, "{ auditLog(first: 1) { entries { id } } }", token=stack.token("admin"))
    assert ok.status_code == 200 and not ok.json().get("errors"), ok.text


HUGE = "9" * 5000  # int() of it raises: more digits than Python converts
PARAMETERS = [
    "/api/v1/disaster-recovery/backups?limit=abc",
    "/api/v1/disaster-recovery/backups?limit=-1",
    "/api/v1/disaster-recovery/backups?limit=1e9",
    "/api/v1/disaster-recovery/backups?limit=0",
    "/api/v1/disaster-recovery/backups?limit=%C2%B2",  # "²": str.isdigit() says yes
    "/api/v1/disaster-recovery/backups?limit=99999999999",
    f"/api/v1/disaster-recovery/backups?limit={HUGE}",
    "/api/v1/disaster-recovery/backups?limit=%00",
    "/status/timeline.svg?days=-1",
    "/status/timeline.svg?days=1e9",
    "/status/timeline.svg?days=%C2%B2",
    "/status/timeline.svg?days=%D9%A3",  # Arabic-Indic three: int() would take it
    f"/status/timeline.svg?days={HUGE}",
    "/status/timeline.svg?days=",
    "/graphql?query=%7B%20globalStatus%20%7B%20healthScore%20%7D%20%7D&variables=%7Bnot-json",
]  # (a query that is not GraphQL answers 200 with its syntax error, as GraphQL over HTTP does)


def test_every_query_parameter_that_does_not_parse_is_a_4xx(stack: Stack) -> None:
    headers = {"Authorization": f"Bearer {stack.token('viewer')}"}
    answers = {path: httpx.get(stack.api_url + path, headers=headers, timeout=30)
               for path in PARAMETERS}
    wrong = {path: (r.status_code, r.text[:200]) for path, r in answers.items()
             if not 400 <= r.status_code < 500}
    assert not wrong, wrong
    said = answers["/api/v1/disaster-recovery/backups?limit=abc"].json()["error"]
    assert "limit must be a whole number from 1 to" in said
    assert "days must be a whole number from 1 to 366" in answers[
        "/status/timeline.svg?days=%C2%B2"].text
    good = httpx.get(f"{stack.api_url}/api/v1/disaster-recovery/backups?limit=5",
                     headers=headers, timeout=30)
    assert good.status_code == 200, good.text


HEALTH = "{ healthCheck { ok components { name ok detail } } }"


def test_public_health_check_names_components_not_where_they_are(stack: Stack) -> None:
    config = load_config(stack.config_path)
    secrets_of_place = [BUCKET, "http://", "https://", str(stack.root), config.api.dagster_url,
                        *(str(d.path) for d in config.destinations if d.path)]
    anonymous = _post(stack.api_url, HEALTH).json()["data"]["healthCheck"]
    rest = httpx.get(f"{stack.api_url}/api/v1/disaster-recovery/health-check", timeout=30)
    for answer in (anonymous, rest.json()):
        names = {c["name"] for c in answer["components"]}
        assert {"catalog", "dagster", "store:s3", "store:local"} <= names, answer
        assert {c["detail"] for c in answer["components"]} <= {"up", "down"}, answer
        text = str(answer)
        assert not [s for s in secrets_of_place if s and s in text], answer
    viewer = _post(stack.api_url, HEALTH, stack.token("viewer")).json()["data"]["healthCheck"]
    details = {c["name"]: c["detail"] for c in viewer["components"]}
    assert BUCKET in details["store:s3"] and details["dagster"] == config.api.dagster_url, details


def test_public_introspection_is_validated(stack: Stack, tmp_path: Path) -> None:
    from dr_assets.core.errors import ConfigError

    config = stack.config_copy(tmp_path, api_lines=('public_introspection = "yes"',))
    with pytest.raises(ConfigError, match=r"api\.public_introspection: must be a bool"):
        load_config(config)
