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

from grpclib.const import Status

from services.edge.asgi import Request
from services.edge.status import EdgeError
from services.kit.auth import JwksTokenVerifier, parse_bearer
from services.kit.catalog import Rpc
from services.kit.errors import MeetmeshError, Reason, Unauthenticated
from services.kit.ratelimit import RateLimit, RateLimiter, digest

MISSING = "this call needs a bearer token"


class RateLimits:
    """The per-address and per-token buckets of a request (leased: most calls skip Redis)."""

    def __init__(self, redis: Any, prefix: str, per_address: RateLimit, per_token: RateLimit) -> None:
        self._limiter = RateLimiter(redis, f"{prefix}rl:", lease=True)
        self._per_address = per_address
        self._per_token = per_token

    async def check(self, address: str | None, subject: str | None) -> None:
        """Raises EdgeError(RESOURCE_EXHAUSTED) with a Retry-After when a bucket is empty."""
        buckets: list[tuple[str, RateLimit]] = []
        if address is not None:
            buckets.append((f"addr:{digest(address)}", self._per_address))
        if subject is not None:
            buckets.append((f"tok:{digest(subject)}", self._per_token))
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

    async def admit(self, request: Request, rpc: Rpc) -> None:
        """Rate limits and auth for one call, as the RPC's contract says (raises EdgeError)."""
        await self.limits.check(request.client, None)
        needs_token = rpc.policy.needs_access_token
        subject = None
        try:
            subject = await self.subject(request)
        except Unauthenticated as exc:
            if needs_token:
                raise EdgeError.from_error(exc) from None
        except MeetmeshError as exc:
            raise EdgeError.from_error(exc) from None
        if needs_token and subject is None:
            raise EdgeError(Status.UNAUTHENTICATED, MISSING, reason=Reason.ERROR_REASON_MISSING_CREDENTIALS)
        if subject is not None:
            await self.limits.check(None, subject)
