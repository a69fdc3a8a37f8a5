"""Issue 15, item 4: the audit log can be neither flooded nor bypassed. Before: arguments
were stored whole (a 256 KB app name as is), 10 MB variables were accepted, every refused
token wrote its own row, a NUL in a mutation's arguments made the audit insert fail (no
row; part of the statement in the answer), and a bad token on a malformed path got a 500
with no audit row where a good one got a 404."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg2
import pytest

from dr_assets.core.catalog.audit import AuditRecords
from tests.support.api import client_from
from tests.support.pg import PG_URL, run_sql
from tests.support.stack import ApiServer, Stack, start_api

CREATE_BACKUP = """mutation($app: String!) { createBackup(app: $app) { __typename
  ... on UnknownApp { message } ... on RunLaunched { runId } } }"""
SQL_WORDS = ("insert into", "select ", "dr.audit_log", "psycopg2", "line 1:")


@pytest.fixture
def unlimited_api(stack: Stack, tmp_path: Path) -> Iterator[ApiServer]:
    """An API of its own (stopping it writes what its tally still holds), with no rate
    limit on refused tokens, so a flood reaches the audit log's door in full."""
    server = start_api(stack.config_copy(tmp_path, api_lines=("refused_rate = 0",)))
    yield server
    server.stop()


def _audit(stack: Stack, where: str, *params: object) -> list[tuple[Any, ...]]:
    with psycopg2.connect(f"{PG_URL}/{stack.catalog_db}") as conn, conn.cursor() as cur:
        cur.execute("SELECT action, actor, arguments, result, detail FROM dr.audit_log"
                    f" WHERE {where} ORDER BY id", params)
        rows = cur.fetchall()
    conn.close()
    return rows


def _marker() -> str:
    return "t" + uuid.uuid4().hex[:12]


def test_a_flood_of_refused_tokens_writes_one_row_per_source_and_minute(
        stack: Stack, unlimited_api: ApiServer) -> None:
    sources = {"127.0.5.1": 60, "127.0.5.2": 15}
    for address, count in sources.items():
        with client_from(address) as client:
            codes = {client.get(f"{unlimited_api.url}/api/v1/disaster-recovery/status/global",
                                headers={"Authorization": f"Bearer bad-{i}"}).status_code
                     for i in range(count)}
        assert codes == {401}
    at_once = {address: _audit(stack, "action = 'authenticate' AND arguments->>'source' = %s",
                               address) for address in sources}
    # The first refusal of each minute from each source, at once, with its reason.
    assert all(1 <= len(rows) <= 2 for rows in at_once.values()), at_once
    assert all(row[3] == "refused" and row[4] for rows in at_once.values() for row in rows)
    unlimited_api.stop()  # the rest are summarised once their minute is over, or at stop
    for address, count in sources.items():
        rows = _audit(stack, "action = 'authenticate' AND arguments->>'source' = %s", address)
        summaries = [r for r in rows if r[2].get("summary")]
        assert 1 <= len(summaries) <= 2 and len(rows) <= 4, rows
        assert len(rows) - len(summaries) + sum(r[2]["refused"] for r in summaries) == count
        assert all("more refused tokens from " + address in r[4] for r in summaries)


def test_arguments_are_bounded_with_a_digest_of_the_whole(stack: Stack) -> None:
    huge = _marker() + "a" * 262_144  # 256 KB: under the body bound, far over what is kept
    resp = httpx.post(f"{stack.api_url}/graphql", timeout=60,
                      headers={"Authorization": f"Bearer {stack.token('operator')}"},
                      json={"query": CREATE_BACKUP, "variables": {"app": huge}})
    assert resp.status_code == 200
    assert resp.json()["data"]["createBackup"]["__typename"] == "UnknownApp"
    assert len(resp.text) < 4096, "the answer does not echo the whole name either"
    [(action, _, arguments, result, _)] = _audit(
        stack, "action = 'createBackup' AND arguments->>'app' LIKE %s", huge[:13] + "%")
    assert (action, result) == ("createBackup", "UnknownApp")
    assert len(json.dumps(arguments)) < 2048
    assert arguments["app"].startswith(huge[:512]) and "more characters" in arguments["app"]
    whole = json.dumps({"app": huge}, sort_keys=True, separators=(",", ":"))
    assert arguments["_digest"] == "sha256:" + hashlib.sha256(whole.encode()).hexdigest()
    assert arguments["_bytes"] == len(whole)


def test_a_nul_in_arguments_is_audited_escaped_and_no_sql_is_answered(stack: Stack) -> None:
    name = _marker() + "\x00tail"
    resp = httpx.post(f"{stack.api_url}/graphql", timeout=60,
                      headers={"Authorization": f"Bearer {stack.token('operator')}"},
                      json={"query": CREATE_BACKUP, "variables": {"app": name}})
    assert resp.status_code == 200, resp.text
    assert not any(word in resp.text.lower() for word in SQL_WORDS), resp.text
    assert resp.json()["data"]["createBackup"]["__typename"] == "UnknownApp", resp.text
    [row] = _audit(stack, "action = 'createBackup' AND arguments->>'app' LIKE %s",
                   name[:13] + "%")
    assert row[2]["app"] == name.replace("\x00", "\\u0000") and row[3] == "UnknownApp"
    chain = run_sql(stack.catalog_db, "SELECT count(*) FROM dr.audit_log")  # type: ignore[arg-type]
    assert chain[0][0] > 0


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_ten_megabyte_variables_are_a_413_audited_when_a_token_came(stack: Stack,
                                                                   chunked: bool) -> None:
    marker = _marker()
    body = json.dumps({"query": CREATE_BACKUP,
                       "variables": {"app": marker, "pad": "x" * 10_000_000}}).encode()
    content: Any = iter([body[i:i + 65536] for i in range(0, len(body), 65536)]) \
        if chunked else body
    headers = {"Content-Type": "application/json",
               "Authorization": f"Bearer {stack.token('operator', subject=marker)}"}
    resp = httpx.post(f"{stack.api_url}/graphql", content=content, headers=headers,
                      timeout=60)
    assert resp.status_code == 413, resp.text[:300]
    assert "max_body_bytes" in resp.json()["errors"][0]["message"]
    [(action, _, arguments, result, _)] = _audit(stack, "actor = %s", marker)
    assert (action, result) == ("request", "refused") and arguments["bytes"] > 1_048_576
    assert not _audit(stack, "action = 'createBackup' AND arguments->>'app' = %s", marker)
    anonymous = httpx.post(f"{stack.api_url}/graphql", content=body, timeout=60,
                           headers={"Content-Type": "application/json"})
    assert anonymous.status_code == 413


MALFORMED = [
    "/api/v1/disaster-recovery/status/%00",
    "/api/v1/disaster-recovery/status/%ff%fe",
    "/api/v1/disaster-recovery/backup/%00x",
    "/api/v1/disaster-recovery/restore/%0a",
    "/api/v1/disaster-recovery/no-such-thing",
    "/status/apps/%00/restore-time.svg",
    "/graphql/%00",
    "/%2e%2e/%2e%2e/etc/passwd",
]


@pytest.mark.parametrize("path", MALFORMED)
def test_a_malformed_path_is_a_4xx_whatever_the_token(
        stack: Stack, path: str) -> None:
    marker = _marker()
    with client_from("127.0.6.1") as client:
        good = client.get(stack.api_url + path,
                          headers={"Authorization": f"Bearer {stack.token('viewer', subject=marker)}"})
        bad = client.get(stack.api_url + path, headers={"Authorization": f"Bearer {marker}"})
        posted = client.post(stack.api_url + path, content=b"\x00\xff{",
                             headers={"Authorization": f"Bearer {stack.token('admin')}"})
    assert 400 <= good.status_code < 500, (path, good.status_code, good.text[:200])
    assert 400 <= posted.status_code < 500, (path, posted.status_code, posted.text[:200])
    assert bad.status_code == 401, (path, bad.status_code, bad.text[:200])
    for resp in (good, bad, posted):
        assert not any(word in resp.text.lower() for word in SQL_WORDS), resp.text


def test_an_unexpected_error_answers_without_its_sql(stack: Stack, unlimited_api: ApiServer,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Fault injected (the catalog does not fail on demand): the audit log's query runs a
    real statement the real server refuses, whose error text quotes the SQL."""

    def broken(self: AuditRecords, *args: object) -> list[object]:
        with self.cursor() as cur:
            cur.execute("SELECT no_such_column FROM dr.audit_log WHERE actor = 'x'")
        return []

    monkeypatch.setattr(AuditRecords, "audit_page", broken)
    resp = httpx.post(f"{unlimited_api.url}/graphql", timeout=60,
                      headers={"Authorization": f"Bearer {stack.token('admin')}"},
                      json={"query": "{ auditLog(first: 1) { entries { id } } }"})
    [error] = resp.json()["errors"]
    assert error["message"].startswith("internal error"), error
    assert not any(word in resp.text.lower() for word in (*SQL_WORDS, "no_such_column"))


@pytest.mark.parametrize("body", [b"\x00\xff{", b'{"query": 5}',
                                  b'{"query": "{ x }", "variables": "no"}',
                                  b"[]"],
                         ids=["not json", "query not a string",
                              "variables not an object", "a list"])
def test_a_malformed_graphql_request_is_a_400(stack: Stack, body: bytes) -> None:
    resp = httpx.post(f"{stack.api_url}/graphql", content=body, timeout=60, headers={
        "Content-Type": "application/json",
        "Authorization": f"Bearer {stack.token('viewer')}"})
    assert resp.status_code == 400, (resp.status_code, resp.text[:300])
    assert not any(word in resp.text.lower() for word in SQL_WORDS), resp.text


def test_a_syntax_error_is_answered_as_graphql_over_http_says(stack: Stack) -> None:
    """A well-formed request whose document does not parse: for application/json the
    GraphQL-over-HTTP spec answers 200 with `errors` and no data (not a 500, nor a partial
    answer)."""
    query = {"query": "{ globalStatus { healthScore "}
    plain = httpx.post(f"{stack.api_url}/graphql", json=query, timeout=60)
    assert plain.status_code == 200 and plain.json()["data"] is None
    assert plain.json()["errors"][0]["message"].startswith("Syntax Error")
