"""Tokens: public fields without one; forged, expired, foreign and alg:none ones refused."""

from __future__ import annotations

import base64
import json
import time

import jwt

from dr_assets.core.policy import load_config
from tests.support.api import gql, gql_from
from tests.support.stack import JWT_SECRET, Stack


def _claims(stack: Stack, **over: object) -> dict[str, object]:
    api = load_config(stack.config_path).api
    now = int(time.time())
    base: dict[str, object] = {"iss": api.jwt_issuer, "aud": api.jwt_audience, "sub": "mallory",
                               "role": "admin", "iat": now, "exp": now + 600}
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


def _audit_count(stack: Stack) -> int:
    from tests.support.pg import run_sql

    return int(run_sql(stack.catalog_db, "SELECT count(*) FROM dr.audit_log")[0][0])  # type: ignore[arg-type]


def test_public_fields_need_no_token_but_the_rest_do(stack: Stack) -> None:
    resp = gql(stack, "{ globalStatus { healthScore status appsTotal } healthCheck { ok } }")
    assert resp.status_code == 200 and resp.json()["data"]["globalStatus"]["appsTotal"] == 1
    resp = gql(stack, "{ backups { totalCount } }")
    body = resp.json()
    assert body["data"] is None
    assert "needs the viewer role" in body["errors"][0]["message"]


def test_bad_tokens_are_refused_with_401(stack: Stack) -> None:
    before = _audit_count(stack)
    bad = {
        "expired": jwt.encode(_claims(stack, iat=int(time.time()) - 7200,
                                      exp=int(time.time()) - 3600), JWT_SECRET),
        "not yet valid": jwt.encode(_claims(stack, nbf=int(time.time()) + 3600), JWT_SECRET),
        "wrong signature": jwt.encode(_claims(stack), "another-secret-of-32-bytes-or-more!!"),
        "wrong audience": jwt.encode(_claims(stack, aud="someone-else"), JWT_SECRET),
        "wrong issuer": jwt.encode(_claims(stack, iss="evil"), JWT_SECRET),
        "unknown role": jwt.encode(_claims(stack, role="root"), JWT_SECRET),
        "alg none": ".".join([
            base64.urlsafe_b64encode(json.dumps({"alg": "none", "typ": "JWT"}).encode())
            .decode().rstrip("="),
            base64.urlsafe_b64encode(json.dumps(_claims(stack)).encode()).decode().rstrip("="),
            "",
        ]),
        "garbage": "not-a-token",
    }
    for i, (name, token) in enumerate(bad.items()):
        # Each from an address of its own: the first refused token of a minute from an
        # address is audited at once, the rest in a summary row after the minute.
        resp = gql_from(f"127.0.7.{i + 1}", stack.api_url,
                        "{ globalStatus { healthScore } }", token)
        assert resp.status_code == 401, (name, resp.text)
        assert resp.json()["errors"][0]["message"], name
    # Every refusal is in the audit log, and no secret or token text is.
    assert _audit_count(stack) == before + len(bad)
    from tests.support.pg import run_sql

    rows = run_sql(stack.catalog_db, "SELECT arguments::text, detail FROM dr.audit_log")
    assert not any(JWT_SECRET in str(r) for r in rows)


def test_roles_are_ordered(stack: Stack) -> None:
    for role, allowed in (("viewer", False), ("operator", False), ("admin", True)):
        resp = gql(stack, "{ auditLog(first: 1) { entries { id } } }", token=stack.token(role))
        assert (resp.json().get("errors") is None) is allowed, (role, resp.text)
