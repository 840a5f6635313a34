"""The platform's own JWS encoder (``TokenService._encode``): the header and payload segments are
byte for byte what PyJWT writes for the same claims and key id, the signature is a valid ES256
signature PyJWT verifies against the published JWKS, and each kind of token reads back as its
principal."""

from __future__ import annotations

import base64
import json
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from services.kit.auth import SIGNALING_AUDIENCE, TokenService
from services.kit.errors import Unauthenticated
from services.kit.keys import SigningKey


def _key() -> SigningKey:
    return SigningKey(ec.generate_private_key(ec.SECP256R1()), kid=uuid.uuid4().hex[:16])


def _segments(token: str) -> list[bytes]:
    return [base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)) for part in token.split(".")]


def test_tokens_match_pyjwt_and_verify_with_the_published_key() -> None:
    key = _key()
    tokens = TokenService(key, issuer="meetmesh-test")
    token, expires = tokens.issue_join(
        user_id="u1",
        meeting_id="m1",
        participant_id="p1",
        meeting_role="participant",
        grants=["publish_audio", "chat", "publish_audio"],
        ttl_s=600,
        generation="g1",
        display_name="Zoë ☃",  # non-ASCII survives (escaped, as PyJWT writes it)
    )
    header, payload, signature = _segments(token)
    claims = json.loads(payload)
    expected = jwt.encode(claims, key.private, algorithm="ES256", headers={"kid": key.kid})
    assert token.split(".")[:2] == expected.split(".")[:2]
    assert json.loads(header) == {"alg": "ES256", "kid": key.kid, "typ": "JWT"}
    assert len(signature) == 64  # raw r || s, as JWS asks, not DER
    public = jwt.PyJWK(key.jwk()).key
    verified = jwt.decode(token, public, algorithms=["ES256"], audience=SIGNALING_AUDIENCE)
    assert verified["name"] == "Zoë ☃" and verified["grants"] == ["chat", "publish_audio"]
    assert verified["exp"] == int(expires)
    principal = tokens.verify_join(token)
    assert (principal.user_id, principal.participant_id, principal.generation) == ("u1", "p1", "g1")


def test_a_changed_byte_or_another_key_is_refused() -> None:
    tokens = TokenService(_key())
    token, _ = tokens.issue_access(user_id="u1", role="member", session_id="s1", ttl_s=600)
    assert tokens.verify_access(token).user_id == "u1"
    head, payload, signature = token.split(".")
    forged = json.loads(_segments(token)[1]) | {"role": "admin"}
    forged_payload = base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode()
    for bad in (f"{head}.{forged_payload}.{signature}", f"{head}.{payload}.{signature[:-4]}AAAA"):
        with pytest.raises(Unauthenticated):
            tokens.verify_access(bad)
    other = TokenService(_key())
    with pytest.raises(Unauthenticated):
        other.verify_access(token)
