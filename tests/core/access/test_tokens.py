"""Verified tokens are remembered, but never past their expiry."""

from __future__ import annotations

import time

import pytest

from dr_assets.core.access.tokens import AuthError, TokenVerifier, mint_token
from dr_assets.core.policy import ApiConfig


def test_a_remembered_token_still_expires() -> None:
    api = ApiConfig()
    verifier = TokenVerifier(api, secret="s" * 32)
    token = mint_token("s" * 32, api, "ops", "operator", ttl_seconds=1)
    assert verifier.verify(token).role == "operator"
    assert verifier.verify(token).subject == "ops"  # from memory
    time.sleep(2.1)  # exp is a whole second at most 1 s after minting
    with pytest.raises(AuthError, match="expired"):
        verifier.verify(token)
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    with pytest.raises(AuthError):
        verifier.verify(forged)
