"""Small HTTP helpers for API tests (real requests over loopback)."""

from __future__ import annotations

import secrets
import time
from typing import Any

import httpx

from tests.support.stack import Stack


def client_from(address: str = "127.0.0.1", timeout: float = 60) -> httpx.Client:
    """A keep-alive client whose connections come from `address` (any of 127.0.0.0/8): the
    API rate limits, and tallies refused tokens, per client address."""
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=timeout)


def gql_from(address: str, url: str, query: str, token: str) -> httpx.Response:
    """A GraphQL POST to the API at `url` with bearer `token`, sent from `address`."""
    with client_from(address) as client:
        return client.post(f"{url}/graphql", json={"query": query},
                           headers={"Authorization": f"Bearer {token}"})


def gql(stack: Stack, query: str, variables: dict[str, Any] | None = None,
        token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(f"{stack.api_url}/graphql", json={"query": query, "variables": variables},
                      headers=headers, timeout=60)


def data(stack: Stack, query: str, variables: dict[str, Any] | None = None,
         token: str | None = None) -> dict[str, Any]:
    resp = gql(stack, query, variables, token)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert not body.get("errors"), body["errors"]
    return body["data"]  # type: ignore[no-any-return]


def wait_run(stack: Stack, run_id: str, token: str, timeout: float = 180) -> str:
    deadline = time.monotonic() + timeout
    status = "?"
    while time.monotonic() < deadline:
        out = data(stack, "query($id: String!) { run(id: $id) { __typename "
                          "... on RunStatus { status } ... on DagsterUnavailable { message } } }",
                   {"id": run_id}, token)
        status = out["run"].get("status", out["run"].get("message"))
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            return str(status)
        time.sleep(1)
    raise AssertionError(f"run {run_id} still {status} after {timeout:.0f} s")


def ask(url: str, query: str, token: str | None = None,
        variables: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
    """(X-DR-Cache, JSON body) of a GraphQL POST to the API at `url`."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    resp = httpx.post(f"{url}/graphql", json={"query": query, "variables": variables},
                      headers=headers, timeout=30)
    assert resp.status_code == 200, resp.text
    return resp.headers["x-dr-cache"], resp.json()


def unique(query: str) -> str:
    """The same query under a fresh alias, so no earlier test left it cached."""
    return "{ a" + secrets.token_hex(4) + ": " + query.strip()[1:]
