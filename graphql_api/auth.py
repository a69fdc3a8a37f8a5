"""Who is calling: the bearer token of a request, verified, as a Principal."""

from __future__ import annotations

from starlette.requests import HTTPConnection

from dr_assets.core.access.tokens import ANONYMOUS, AuthError, Principal, TokenVerifier


def principal_from(conn: HTTPConnection, verifier: TokenVerifier) -> Principal:
    """No header: anonymous (public fields only). A header: it must be a valid token."""
    header = conn.headers.get("authorization")
    if not header:
        return ANONYMOUS
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("Authorization must be 'Bearer <token>'")
    return verifier.verify(token.strip())
