"""The platform's JWT signing keys (ES256) and the JWKS.

Keys are PEM files under ``keys_dir``, created on first use with mode 0600 and never committed:
``jwt-es256.pem`` signs users' access and join tokens (its public half is the JWKS the user service
serves for the edge and Envoy's ``jwt_authn``); ``service-es256.pem`` signs service tokens and is
never published (docs/adr/0005-service-identity.md).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

KEY_FILE = "jwt-es256.pem"
SERVICE_KEY_FILE = "service-es256.pem"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True)
class SigningKey:
    """A private key with its public half and key id."""

    private: ec.EllipticCurvePrivateKey
    kid: str

    @property
    def public(self) -> ec.EllipticCurvePublicKey:
        return self.private.public_key()

    def jwk(self) -> dict[str, Any]:
        numbers = self.public.public_numbers()
        return {
            "kty": "EC",
            "crv": "P-256",
            "alg": "ES256",
            "use": "sig",
            "kid": self.kid,
            "x": _b64(numbers.x.to_bytes(32, "big")),
            "y": _b64(numbers.y.to_bytes(32, "big")),
        }

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.jwk()]}

    def jwks_json(self) -> bytes:
        return json.dumps(self.jwks()).encode()


def _kid(private: ec.EllipticCurvePrivateKey) -> str:
    der = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()[:16]


def generate() -> SigningKey:
    """A new key held only in memory (benchmarks and tests that need no files)."""
    private = ec.generate_private_key(ec.SECP256R1())
    return SigningKey(private=private, kid=_kid(private))


def load_or_create(keys_dir: Path, file_name: str = KEY_FILE) -> SigningKey:
    """Load a signing key from ``keys_dir``, creating it (atomically, 0600) if absent."""
    path = Path(keys_dir) / file_name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        private = ec.generate_private_key(ec.SECP256R1())
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
        try:
            os.link(tmp, path)  # fails if another process won the race; keep theirs
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{path} does not hold an EC private key")
    return SigningKey(private=loaded, kid=_kid(loaded))
