"""Access-token check at the edge: ES256 JWTs verified against the user service's JWKS.

The edge rejects a call that needs a token and has none, or has a bad one, before it reaches a
service (UNAUTHENTICATED); services verify again (and also check revocation, which the edge does
not). The checks match the kit's `TokenService.verify_access`: issuer, `typ="access"`, no audience.
Verified tokens are cached until they expire.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import jwt
from grpclib.const import Status

from services.edge.status import EdgeError
from services.kit.errors import Reason

_CACHE_LIMIT = 10_000
_REFRESH_INTERVAL = 10.0
_LEEWAY_S = 5  # as the services allow
# Messages and reasons are the kit's, so a rejection reads the same from the edge or a service.
_INVALID = "the token is invalid"
MISSING = "this call needs a bearer token"


def _unauthenticated(message: str, reason: str) -> EdgeError:
    return EdgeError(Status.UNAUTHENTICATED, message, reason=reason)


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthenticated("authorization must be 'Bearer <token>'", "INVALID_TOKEN")
    return token.strip()


class TokenVerifier:
    """Verifies access tokens with keys fetched from a JWKS URL."""

    def __init__(self, jwks_url: str, *, issuer: str) -> None:
        self._jwks_url = jwks_url
        self._issuer = issuer
        self._keys: dict[str, Any] = {}
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()
        self._verified: dict[str, dict[str, Any]] = {}

    async def _refresh_keys(self) -> None:
        async with self._lock:
            if time.monotonic() - self._fetched_at < _REFRESH_INTERVAL and self._keys:
                return
            try:
                async with httpx.AsyncClient(timeout=5.0) as client:
                    response = await client.get(self._jwks_url)
                    response.raise_for_status()
                    jwks = response.json()
            except (httpx.HTTPError, ValueError) as exc:
                raise EdgeError(
                    Status.UNAVAILABLE,
                    "token keys are unavailable",
                    reason=Reason.ERROR_REASON_DEPENDENCY_UNAVAILABLE,
                ) from exc
            self._keys = {k["kid"]: jwt.PyJWK(k).key for k in jwks.get("keys", []) if "kid" in k}
            self._fetched_at = time.monotonic()

    async def _key(self, kid: str) -> Any:
        if kid not in self._keys:
            await self._refresh_keys()
        key = self._keys.get(kid)
        if key is None:
            raise _unauthenticated(_INVALID, "INVALID_TOKEN")
        return key

    async def verify(self, token: str) -> dict[str, Any]:
        """The token's claims; raises EdgeError(UNAUTHENTICATED) for any bad token."""
        cached = self._verified.get(token)
        if cached is not None and cached["exp"] > time.time():
            return cached
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise _unauthenticated(_INVALID, "INVALID_TOKEN") from None
        if header.get("alg") != "ES256" or not isinstance(header.get("kid"), str):
            raise _unauthenticated(_INVALID, "INVALID_TOKEN")
        key = await self._key(header["kid"])
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=["ES256"],
                issuer=self._issuer,
                leeway=_LEEWAY_S,
                options={"require": ["exp", "iat", "sub", "typ"], "verify_aud": False},
            )
        except jwt.ExpiredSignatureError:
            raise _unauthenticated("the token has expired", "TOKEN_EXPIRED") from None
        except jwt.PyJWTError:
            raise _unauthenticated(_INVALID, "INVALID_TOKEN") from None
        if claims.get("typ") != "access" or "aud" in claims:
            raise _unauthenticated("not an access token", "INVALID_TOKEN")
        if len(self._verified) >= _CACHE_LIMIT:
            self._verified.clear()
        self._verified[token] = claims
        return claims
