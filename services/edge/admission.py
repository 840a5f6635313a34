"""Admission at the edge: rate limits and the access token, as each RPC's contract says.

Both are the kit's: the token is checked by the platform's one ``TokenVerifier`` (keys from the
user service's JWKS) and the limits are the platform's token buckets (``services.kit.ratelimit``),
one per client address and one per token subject. The kit's errors become the edge's answers here.

The per-address limit comes first, so that calls without a valid token are limited too (and cannot
make the edge verify signatures without bound); the per-token limit follows once the token is
verified. The edge checks the access token that user, admin and participant methods need; roles,
grants and revocation are the service's to check (it has the meeting and the session).
"""

from __future__ import annotations

from typing import Any

from services.edge.asgi import Request
from services.edge.status import EdgeError
from services.kit.auth import JwksTokenVerifier, Principal, parse_bearer
from services.kit.catalog import Rpc
from services.kit.errors import MeetmeshError, Reason, Unauthenticated
from services.kit.ratelimit import RateLimit, RateLimiter, digest

MISSING = "this call needs a bearer token"
_NAMES_CACHED = 10_000


class RateLimits:
    """The per-address and per-token buckets of a request (leased: most calls skip Redis)."""

    def __init__(self, redis: Any, prefix: str, per_address: RateLimit, per_token: RateLimit) -> None:
        self._limiter = RateLimiter(redis, f"{prefix}rl:", lease=True)
        self._per_address = per_address
        self._per_token = per_token
        #: Bucket names by address or subject (a digest each; bounded, cleared when full).
        self._names: dict[tuple[str, str], str] = {}

    def _name(self, kind: str, value: str) -> str:
        name = self._names.get((kind, value))
        if name is None:
            if len(self._names) >= _NAMES_CACHED:
                self._names.clear()
            name = self._names[(kind, value)] = f"{kind}:{digest(value)}"
        return name

    async def check(self, address: str | None, subject: str | None) -> None:
        """Raises EdgeError(RESOURCE_EXHAUSTED) with a Retry-After when a bucket is empty."""
        buckets: list[tuple[str, RateLimit]] = []
        if address is not None:
            buckets.append((self._name("addr", address), self._per_address))
        if subject is not None:
            buckets.append((self._name("tok", subject), self._per_token))
        try:
            await self._limiter.check(buckets)
        except MeetmeshError as exc:
            raise EdgeError.from_error(exc) from None


class Admission:
    """Admits one call: rate limits and, where the RPC needs one, a valid access token."""

    def __init__(self, verifier: JwksTokenVerifier, limits: RateLimits) -> None:
        self.verifier = verifier
        self.limits = limits

    async def subject(self, request: Request) -> str | None:
        """The user the request's access token names; None without one (raises the kit's
        Unauthenticated for a bad one, Unavailable when the keys cannot be fetched)."""
        token = parse_bearer(request.header("authorization"))
        if token is None:
            return None
        return (await self.verifier.verify_access_fetching_keys(token)).user_id

    async def user(self, request: Request) -> Principal:
        """The rate limits and a valid access token (raises EdgeError): what ``admit`` asks of a
        method whose contract needs a token, and what the edge's own user-only endpoints ask."""
        await self.limits.check(request.client, None)
        try:
            token = parse_bearer(request.header("authorization"))  # raises for a malformed header
            if token is None:
                raise Unauthenticated(MISSING, reason=Reason.ERROR_REASON_MISSING_CREDENTIALS)
            principal = await self.verifier.verify_access_fetching_keys(token)
        except MeetmeshError as exc:
            raise EdgeError.from_error(exc) from None
        await self.limits.check(None, principal.user_id)
        return principal

    async def admit(self, request: Request, rpc: Rpc) -> None:
        """Rate limits and auth for one call, as the RPC's contract says (raises EdgeError)."""
        if rpc.policy.needs_access_token:
            await self.user(request)
            return
        await self.limits.check(request.client, None)
        try:
            subject = await self.subject(request)
        except Unauthenticated:
            return  # a method open to anyone ignores a bad token (no per-token bucket then)
        except MeetmeshError as exc:
            raise EdgeError.from_error(exc) from None
        if subject is not None:
            await self.limits.check(None, subject)
