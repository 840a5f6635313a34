"""Tokens and the caller's identity.

Three kinds of JWT (ES256):

* access tokens (``typ="access"``), issued by the user service at login and refresh, sent by
  clients as ``authorization: Bearer <token>``; signed with the platform key (``keys.py``), whose
  public half is published as a JWKS;
* join tokens (``typ="join"``, ``aud="meetmesh.signaling"``), issued by the meeting service, carrying
  the meeting, participant, its generation (``gen``: see ``joins.py``; a token is dead once its
  generation is no longer the live one), role and grants for signaling; signed with the platform
  key;
* service tokens (``typ="service"``, ``aud="meetmesh.internal"``, ``sub`` the calling service),
  short-lived credentials services send on internal methods; signed with the service key, a
  separate key only services hold and never published (docs/adr/0005-service-identity.md).

``TokenVerifier`` is the one place their claims are checked (``TokenService`` adds issuing, for
processes holding the keys; ``JwksTokenVerifier`` fetches the public keys from the user service's
JWKS, for the edge); ``current_principal()`` is the caller of the RPC being
served (set by the kit's method wrapper, see ``server.py``).
"""

from __future__ import annotations

import asyncio
import base64
import contextvars
import json
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from .errors import Reason, Unauthenticated, Unavailable
from .keys import SigningKey

ACCESS = "access"
JOIN = "join"
SERVICE = "service"
SIGNALING_AUDIENCE = "meetmesh.signaling"
INTERNAL_AUDIENCE = "meetmesh.internal"
_ALGORITHM = "ES256"
_LEEWAY_S = 5
_INVALID = "the token is invalid"
_KINDS = {ACCESS: "an access", JOIN: "a join", SERVICE: "a service"}
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())


def _b64url(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


@dataclass(frozen=True)
class Principal:
    """An authenticated caller."""

    user_id: str
    role: str = "member"
    session_id: str = ""
    token_type: str = ACCESS
    # Service tokens only: the calling service ("media", "signaling", ...).
    service: str = ""
    # Join tokens only.
    meeting_id: str = ""
    participant_id: str = ""
    meeting_role: str = ""
    grants: frozenset[str] = field(default_factory=frozenset)
    generation: str = ""
    # Join tokens only: the participant's display name as the meeting service knows it. Personal
    # data: never logged (kept out of the repr).
    display_name: str = field(default="", repr=False)
    expires_at: float = 0.0
    # The bearer token itself, for calls made on the caller's behalf. Never log it.
    token: str = field(default="", repr=False)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


_principal: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("principal", default=None)


def current_principal() -> Principal:
    """The authenticated caller; raises UNAUTHENTICATED if the call carried no credentials."""
    principal = _principal.get()
    if principal is None:
        raise Unauthenticated("this call needs credentials", reason=Reason.ERROR_REASON_MISSING_CREDENTIALS)
    return principal


def optional_principal() -> Principal | None:
    """The authenticated caller, or None on an anonymous call."""
    return _principal.get()


def set_principal(principal: Principal | None) -> contextvars.Token[Principal | None]:
    return _principal.set(principal)


def reset_principal(token: contextvars.Token[Principal | None]) -> None:
    _principal.reset(token)


def parse_bearer(value: str | bytes | None) -> str | None:
    """The token of an ``authorization`` value ``Bearer <token>``; None when absent."""
    if value is None or value == "" or value == b"":
        return None
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    scheme, _, token = str(value).partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated(
            "authorization must be 'Bearer <token>'", reason=Reason.ERROR_REASON_INVALID_TOKEN
        )
    return token.strip()


def bearer_token(metadata: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> str | None:
    """The token from ``authorization: Bearer <token>`` metadata, or None when absent."""
    items = metadata.items() if isinstance(metadata, Mapping) else metadata
    for key, value in items:
        if key.lower() == "authorization":
            token = parse_bearer(value)
            if token is None:
                raise Unauthenticated(
                    "authorization must be 'Bearer <token>'", reason=Reason.ERROR_REASON_INVALID_TOKEN
                )
            return token
    return None


class TokenVerifier:
    """Verifies the platform's JWTs: the one place their claims are checked.

    User tokens (access, join) are checked against the platform's public keys by key id (``kid``);
    service tokens against the service key. Verified tokens are remembered (bounded, until they
    expire), so a client's repeated calls with one token pay the ECDSA verification once.
    Revocation is checked separately, per call (``revocation.py``).
    """

    _CACHE_SIZE = 10_000

    def __init__(
        self,
        keys: Mapping[str, Any] | None = None,
        *,
        issuer: str = "meetmesh",
        service_key: tuple[str, Any] | None = None,
    ) -> None:
        self._issuer = issuer
        self._keys: dict[str, Any] = dict(keys or {})
        # (kid, public key) of the service key, when this process may check service tokens.
        self._service_public = service_key
        self._verified: OrderedDict[str, Principal] = OrderedDict()

    def _cached(self, token: str) -> Principal | None:
        principal = self._verified.get(token)
        if principal is None:
            return None
        if principal.expires_at + _LEEWAY_S < time.time():
            del self._verified[token]
            raise Unauthenticated("the token has expired", reason=Reason.ERROR_REASON_TOKEN_EXPIRED)
        self._verified.move_to_end(token)
        return principal

    def _remember(self, token: str, principal: Principal) -> Principal:
        self._verified[token] = principal
        if len(self._verified) > self._CACHE_SIZE:
            self._verified.popitem(last=False)
        return principal

    @staticmethod
    def key_id(token: str) -> str | None:
        """The ``kid`` the token claims to be signed with (unverified), None if unreadable."""
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError:
            return None
        return kid if isinstance(kid, str) else None

    def knows_key(self, kid: str) -> bool:
        return kid in self._keys

    def is_service_token(self, token: str) -> bool:
        """Whether ``token`` claims to be signed by the service key (verify it before trusting)."""
        if self._service_public is None:
            return False
        known = self._verified.get(token)  # verified before: no header to parse again
        if known is not None:
            return known.token_type == SERVICE
        return self.key_id(token) == self._service_public[0]

    def _decode(self, token: str, *, audience: str | None, key: Any) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[_ALGORITHM],
                issuer=self._issuer,
                audience=audience,
                leeway=_LEEWAY_S,
                options={"require": ["exp", "iat", "sub", "typ"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the token has expired", reason=Reason.ERROR_REASON_TOKEN_EXPIRED) from None
        except jwt.PyJWTError:
            raise Unauthenticated(_INVALID, reason=Reason.ERROR_REASON_INVALID_TOKEN) from None
        return claims

    def _user_key(self, token: str) -> Any:
        key = self._keys.get(self.key_id(token) or "")
        if key is None:
            raise Unauthenticated(_INVALID, reason=Reason.ERROR_REASON_INVALID_TOKEN)
        return key

    def _verify(
        self, token: str, token_type: str, audience: str | None, key: Callable[[], Any]
    ) -> tuple[Principal | None, dict[str, Any]]:
        """(the remembered principal, {}) or (None, the verified claims of a ``token_type`` token)."""
        cached = self._cached(token)
        if cached is not None and cached.token_type == token_type:
            return cached, {}
        claims = self._decode(token, audience=audience, key=key())
        if claims.get("typ") != token_type or (audience is None and "aud" in claims):
            raise Unauthenticated(f"not {_KINDS[token_type]} token", reason=Reason.ERROR_REASON_INVALID_TOKEN)
        return None, claims

    def _service_verifying_key(self) -> Any:
        if self._service_public is None:
            raise Unauthenticated(_INVALID, reason=Reason.ERROR_REASON_INVALID_TOKEN)
        return self._service_public[1]

    def verify_service(self, token: str) -> Principal:
        if self._service_public is not None and not self.is_service_token(token):
            raise Unauthenticated(_INVALID, reason=Reason.ERROR_REASON_INVALID_TOKEN)
        cached, claims = self._verify(token, SERVICE, INTERNAL_AUDIENCE, self._service_verifying_key)
        if cached is not None:
            return cached
        principal = Principal(
            user_id="",
            role="service",
            token_type=SERVICE,
            service=str(claims["sub"]),
            expires_at=float(claims["exp"]),
        )
        return self._remember(token, principal)

    def verify_access(self, token: str) -> Principal:
        cached, claims = self._verify(token, ACCESS, None, lambda: self._user_key(token))
        if cached is not None:
            return cached
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
        cached, claims = self._verify(token, JOIN, SIGNALING_AUDIENCE, lambda: self._user_key(token))
        if cached is not None:
            return cached
        principal = Principal(
            user_id=str(claims["sub"]),
            token_type=JOIN,
            meeting_id=str(claims.get("mtg", "")),
            participant_id=str(claims.get("pid", "")),
            meeting_role=str(claims.get("role", "")),
            grants=frozenset(str(g) for g in claims.get("grants", [])),
            generation=str(claims.get("gen", "")),
            display_name=str(claims.get("name", "")),
            expires_at=float(claims["exp"]),
            token=token,
        )
        return self._remember(token, principal)


class JwksTokenVerifier(TokenVerifier):
    """A ``TokenVerifier`` for processes that hold no key (the edge): the platform's public keys
    come from the user service's JWKS, fetched when a token names a key id not seen yet (at most
    once per ``refresh_interval_s``)."""

    def __init__(self, jwks_url: str, *, issuer: str, refresh_interval_s: float = 10.0) -> None:
        super().__init__(issuer=issuer)
        self._jwks_url = jwks_url
        self._refresh_interval_s = refresh_interval_s
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()

    async def _refresh_keys(self) -> None:
        async with self._lock:
            if self._keys and time.monotonic() - self._fetched_at < self._refresh_interval_s:
                return
            try:
                async with httpx.AsyncClient(timeout=5.0) as client:
                    response = await client.get(self._jwks_url)
                    response.raise_for_status()
                    jwks = response.json()
                keys = {k["kid"]: jwt.PyJWK(k).key for k in jwks.get("keys", []) if "kid" in k}
            except (httpx.HTTPError, ValueError, KeyError, jwt.PyJWTError) as exc:
                raise Unavailable(
                    "token keys are unavailable", reason=Reason.ERROR_REASON_DEPENDENCY_UNAVAILABLE
                ) from exc
            self._keys = keys
            self._fetched_at = time.monotonic()

    async def verify_access_fetching_keys(self, token: str) -> Principal:
        """``verify_access``, fetching the JWKS first when the token names an unknown key (a token
        verified before skips the header parse: it was a third of the edge's JWT work per call)."""
        if token not in self._verified:
            kid = self.key_id(token)
            if kid is not None and not self.knows_key(kid):
                await self._refresh_keys()
        return self.verify_access(token)


class TokenService(TokenVerifier):
    """Issues the platform's JWTs (holding the private keys) and verifies them."""

    def __init__(
        self, key: SigningKey, issuer: str = "meetmesh", service_key: SigningKey | None = None
    ) -> None:
        super().__init__(
            {key.kid: key.public},
            issuer=issuer,
            service_key=(service_key.kid, service_key.public) if service_key is not None else None,
        )
        self._key = key
        self._service_key = service_key
        self._heads: dict[str, bytes] = {}  # kid -> the encoded header and its dot

    @property
    def key(self) -> SigningKey:
        return self._key

    def _encode(self, claims: dict[str, Any], key: SigningKey | None = None) -> str:
        """The compact JWS of ``claims``, byte for byte what ``jwt.encode(claims, key.private,
        algorithm="ES256", headers={"kid": key.kid})`` writes (sorted header, compact JSON), in
        about two thirds of its time: PyJWT re-checks and re-serialises the header and looks the
        algorithm up on every call, about 45 µs a token here (3% of a meeting join). Verifying stays
        with PyJWT."""
        key = key or self._key
        head = self._heads.get(key.kid)
        if head is None:
            header = {"alg": _ALGORITHM, "kid": key.kid, "typ": "JWT"}
            head = self._heads[key.kid] = _b64url(json.dumps(header, separators=(",", ":")).encode()) + b"."
        signing_input = head + _b64url(json.dumps(claims, separators=(",", ":")).encode())
        r, s = decode_dss_signature(key.private.sign(signing_input, _ECDSA_SHA256))
        return (signing_input + b"." + _b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))).decode()

    def issue_service(self, service: str, ttl_s: int = 300) -> tuple[str, float]:
        """A service token for ``service`` (only processes holding the service key can do this)."""
        if self._service_key is None:
            raise Unavailable("this process holds no service key")
        now = time.time()
        exp = now + ttl_s
        claims = {
            "iss": self._issuer,
            "aud": INTERNAL_AUDIENCE,
            "sub": service,
            "typ": SERVICE,
            "iat": int(now),
            "exp": int(exp),
            "jti": uuid.uuid4().hex,
        }
        return self._encode(claims, self._service_key), float(int(exp))

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
        display_name: str = "",
    ) -> tuple[str, float]:
        now = time.time()
        exp = now + ttl_s
        claims: dict[str, Any] = {
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
        if display_name:  # signaling's Participant.display_name (personal data: never logged)
            claims["name"] = display_name
        return self._encode(claims), float(int(exp))
