"""Bearer tokens: roles viewer < operator < admin, HS256 locally or RS256/ES256 via JWKS."""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import jwt

from dr_assets.core.errors import DRError
from dr_assets.core.format.private_files import loose_mode
from dr_assets.core.policy import ApiConfig

ROLES = ("viewer", "operator", "admin")
PUBLIC = "public"
ASYMMETRIC = ["RS256", "ES256"]
VERIFIED_TTL_SECONDS = 60.0  # a JWKS key withdrawn by the identity provider stops working
VERIFIED_MAX = 4096


class AuthError(DRError):
    """A token was missing where required, malformed, forged, expired or of no known role."""


@dataclass(frozen=True)
class Principal:
    subject: str
    role: str

    def allows(self, needed: str) -> bool:
        if self.role not in ROLES:
            return False
        return ROLES.index(self.role) >= ROLES.index(needed)


ANONYMOUS = Principal("anonymous", PUBLIC)


def load_jwt_secret(api: ApiConfig) -> str | None:
    secret = os.environ.get(api.jwt_secret_env, "")
    if secret:
        return secret
    if api.jwt_secret_file is not None and api.jwt_secret_file.exists():
        loose = loose_mode(api.jwt_secret_file)
        if loose is not None:
            raise AuthError(f"JWT secret file {loose}")
        return api.jwt_secret_file.read_text().strip() or None
    return None


def mint_token(secret: str, api: ApiConfig, subject: str, role: str, ttl_seconds: int = 3600,
               not_before: float | None = None) -> str:
    if role not in ROLES:
        raise AuthError(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": api.jwt_issuer, "aud": api.jwt_audience, "sub": subject,
        api.roles_claim: role, "iat": now, "exp": now + ttl_seconds,
    }
    if not_before is not None:
        claims["nbf"] = int(not_before)
    return jwt.encode(claims, secret, algorithm="HS256")


class TokenVerifier:
    def __init__(self, api: ApiConfig, secret: str | None = None) -> None:
        self.api = api
        self.secret = secret if secret is not None else load_jwt_secret(api)
        self.jwks = jwt.PyJWKClient(api.jwks_url, cache_keys=True) if api.jwks_url else None
        self._verified: OrderedDict[str, tuple[Principal, float, float]] = OrderedDict()
        self._verified_lock = threading.Lock()
        if self.jwks is None and not self.secret:
            raise AuthError(
                f"no JWT secret: set ${api.jwt_secret_env} or create {api.jwt_secret_file} "
                "(make up does), or configure api.jwks_url"
            )

    def verify(self, token: str) -> Principal:
        """The token's principal; a token already verified within VERIFIED_TTL_SECONDS is not
        checked again, except for expiry (its signature, issuer, audience and role cannot
        have changed, and nbf/iat only become more true as time passes)."""
        now = time.time()
        with self._verified_lock:
            known = self._verified.get(token)
        if known is not None:
            principal, expires_at, verified_at = known
            if now < expires_at and now - verified_at < VERIFIED_TTL_SECONDS:
                return principal
            with self._verified_lock:
                self._verified.pop(token, None)
        principal, expires_at = self._verify(token)
        with self._verified_lock:
            self._verified[token] = (principal, expires_at, now)
            while len(self._verified) > VERIFIED_MAX:
                self._verified.popitem(last=False)
        return principal

    def _verify(self, token: str) -> tuple[Principal, float]:
        try:
            if self.jwks is not None:
                key: Any = self.jwks.get_signing_key_from_jwt(token).key
                algorithms = ASYMMETRIC
            else:
                key, algorithms = self.secret, ["HS256"]
            claims = jwt.decode(
                token, key, algorithms=algorithms, audience=self.api.jwt_audience,
                issuer=self.api.jwt_issuer, options={"require": ["exp", "iat", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise AuthError("token expired: get a new one (drctl token)") from None
        except jwt.ImmatureSignatureError:
            raise AuthError("token not yet valid (nbf/iat in the future)") from None
        except jwt.InvalidAudienceError:
            raise AuthError(f"token is not for this API (audience must be "
                            f"{self.api.jwt_audience})") from None
        except jwt.InvalidIssuerError:
            raise AuthError(f"token issuer is not {self.api.jwt_issuer}") from None
        except jwt.PyJWTError as exc:
            raise AuthError(f"invalid token: {exc}") from None
        role = role_of(claims, self.api.roles_claim)
        return Principal(subject=str(claims["sub"]), role=role), float(claims["exp"])


def role_of(claims: dict[str, Any], claim: str) -> str:
    """The one role a token names: a single string among ROLES. A list (even of one), a
    number or an unknown name is refused: which of several roles applies is not ours to
    guess, and an identity provider that sends lists must map them to one role."""
    if claim not in claims:
        raise AuthError(f"token has no {claim!r} claim: it must name one role "
                        f"({', '.join(ROLES)})")
    role = claims[claim]
    if not isinstance(role, str):
        raise AuthError(f"token's {claim!r} claim must be one role as a string "
                        f"({', '.join(ROLES)}), not a {type(role).__name__}")
    if role not in ROLES:
        raise AuthError(f"token's {claim!r} claim names no known role: use one of "
                        f"{', '.join(ROLES)}")
    return role
