"""Tokens and the caller's identity.

Two kinds of JWT (ES256, signed with the platform key from ``keys.py``):

* access tokens (``typ="access"``), issued by the user service at login and refresh, sent by
  clients as ``authorization: Bearer <token>``;
* join tokens (``typ="join"``, ``aud="meetmesh.signaling"``), issued by the meeting service, carrying
  the meeting, participant, its generation (``gen``: see ``joins.py``; a token is dead once its
  generation is no longer the live one), role and grants for signaling.

``TokenService`` issues and verifies both; ``current_principal()`` is the caller of the RPC being
served (set by the kit's method wrapper, see ``server.py``).
"""

from __future__ import annotations

import contextvars
import enum
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt

from .errors import Unauthenticated
from .keys import SigningKey

ACCESS = "access"
JOIN = "join"
SIGNALING_AUDIENCE = "meetmesh.signaling"
_ALGORITHM = "ES256"
_LEEWAY_S = 5


class AuthMode(enum.Enum):
    """What a method requires of its caller."""

    NONE = "none"  # anonymous (register, login, health)
    USER = "user"  # a valid access token
    OPTIONAL = "optional"  # an access token if sent (must then be valid)
    JOIN = "join"  # a valid join token (signaling)


@dataclass(frozen=True)
class Principal:
    """An authenticated caller."""

    user_id: str
    role: str = "member"
    session_id: str = ""
    token_type: str = ACCESS
    # Join tokens only.
    meeting_id: str = ""
    participant_id: str = ""
    meeting_role: str = ""
    grants: frozenset[str] = field(default_factory=frozenset)
    generation: str = ""
    expires_at: float = 0.0
    # The bearer token itself, for calls made on the caller's behalf. Never log it.
    token: str = field(default="", repr=False)

    @property
    def user_name(self) -> str:
        return f"users/{self.user_id}"

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


_principal: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("principal", default=None)


def current_principal() -> Principal:
    """The authenticated caller; raises UNAUTHENTICATED if the call carried no credentials."""
    principal = _principal.get()
    if principal is None:
        raise Unauthenticated("this call needs credentials", reason="MISSING_CREDENTIALS")
    return principal


def optional_principal() -> Principal | None:
    return _principal.get()


def set_principal(principal: Principal | None) -> contextvars.Token[Principal | None]:
    return _principal.set(principal)


def reset_principal(token: contextvars.Token[Principal | None]) -> None:
    _principal.reset(token)


def bearer_token(metadata: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> str | None:
    """The token from ``authorization: Bearer <token>`` metadata, or None when absent."""
    items = metadata.items() if isinstance(metadata, Mapping) else metadata
    for key, value in items:
        if key.lower() == "authorization":
            if isinstance(value, bytes):
                value = value.decode("latin-1")
            scheme, _, token = str(value).partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Unauthenticated("authorization must be 'Bearer <token>'", reason="INVALID_TOKEN")
            return token.strip()
    return None


class TokenService:
    """Issues and verifies the platform's JWTs.

    Verified tokens are remembered (bounded, until they expire), so a client's repeated calls
    with one token pay the ECDSA verification once. Revocation is checked separately, per call.
    """

    _CACHE_SIZE = 10_000

    def __init__(self, key: SigningKey, issuer: str = "meetmesh") -> None:
        self._key = key
        self._issuer = issuer
        self._public = key.public
        self._verified: OrderedDict[str, Principal] = OrderedDict()

    def _cached(self, token: str) -> Principal | None:
        principal = self._verified.get(token)
        if principal is None:
            return None
        if principal.expires_at + _LEEWAY_S < time.time():
            del self._verified[token]
            raise Unauthenticated("the token has expired", reason="TOKEN_EXPIRED")
        self._verified.move_to_end(token)
        return principal

    def _remember(self, token: str, principal: Principal) -> Principal:
        self._verified[token] = principal
        if len(self._verified) > self._CACHE_SIZE:
            self._verified.popitem(last=False)
        return principal

    @property
    def key(self) -> SigningKey:
        return self._key

    def _encode(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self._key.private, algorithm=_ALGORITHM, headers={"kid": self._key.kid})

    def issue_access(self, *, user_id: str, role: str, session_id: str, ttl_s: int) -> tuple[str, float]:
        now = time.time()
        exp = now + ttl_s
        claims = {
            "iss": self._issuer,
            "sub": user_id,
            "typ": ACCESS,
            "role": role,
            "sid": session_id,
            "iat": int(now),
            "exp": int(exp),
            "jti": uuid.uuid4().hex,
        }
        return self._encode(claims), float(int(exp))

    def issue_join(
        self,
        *,
        user_id: str,
        meeting_id: str,
        participant_id: str,
        meeting_role: str,
        grants: Iterable[str],
        ttl_s: int,
        generation: str = "",
    ) -> tuple[str, float]:
        now = time.time()
        exp = now + ttl_s
        claims = {
            "iss": self._issuer,
            "aud": SIGNALING_AUDIENCE,
            "sub": user_id,
            "typ": JOIN,
            "mtg": meeting_id,
            "pid": participant_id,
            "gen": generation,
            "role": meeting_role,
            "grants": sorted(set(grants)),
            "iat": int(now),
            "exp": int(exp),
            "jti": uuid.uuid4().hex,
        }
        return self._encode(claims), float(int(exp))

    def _decode(self, token: str, *, audience: str | None) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._public,
                algorithms=[_ALGORITHM],
                issuer=self._issuer,
                audience=audience,
                leeway=_LEEWAY_S,
                options={"require": ["exp", "iat", "sub", "typ"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the token has expired", reason="TOKEN_EXPIRED") from None
        except jwt.PyJWTError:
            raise Unauthenticated("the token is invalid", reason="INVALID_TOKEN") from None
        return claims

    def verify_access(self, token: str) -> Principal:
        cached = self._cached(token)
        if cached is not None and cached.token_type == ACCESS:
            return cached
        claims = self._decode(token, audience=None)
        if claims.get("typ") != ACCESS or "aud" in claims:
            raise Unauthenticated("not an access token", reason="INVALID_TOKEN")
        principal = Principal(
            user_id=str(claims["sub"]),
            role=str(claims.get("role", "member")),
            session_id=str(claims.get("sid", "")),
            token_type=ACCESS,
            expires_at=float(claims["exp"]),
            token=token,
        )
        return self._remember(token, principal)

    def verify_join(self, token: str) -> Principal:
        cached = self._cached(token)
        if cached is not None and cached.token_type == JOIN:
            return cached
        claims = self._decode(token, audience=SIGNALING_AUDIENCE)
        if claims.get("typ") != JOIN:
            raise Unauthenticated("not a join token", reason="INVALID_TOKEN")
        principal = Principal(
            user_id=str(claims["sub"]),
            token_type=JOIN,
            meeting_id=str(claims.get("mtg", "")),
            participant_id=str(claims.get("pid", "")),
            meeting_role=str(claims.get("role", "")),
            grants=frozenset(str(g) for g in claims.get("grants", [])),
            generation=str(claims.get("gen", "")),
            expires_at=float(claims["exp"]),
            token=token,
        )
        return self._remember(token, principal)
