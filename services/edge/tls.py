"""The edge's TLS certificate: the configured one, or a self-signed development certificate.

``MEETMESH_EDGE__TLS_CERTFILE`` and ``..._TLS_KEYFILE`` name a PEM certificate chain and key
(production: a real certificate). Without them the edge creates, once, a self-signed certificate
for ``localhost`` and ``127.0.0.1`` under ``tls_dev_dir`` (``./var/tls``; the key readable by the
owner only) and reuses it on later starts; browsers and clients must be told to trust it
(``curl --cacert var/tls/dev-cert.pem``).

The listener's certificate expiry is a metric, ``meetmesh_tls_certificate_expiry_timestamp_seconds``
(its not-after as a Unix time, label ``certificate="edge"``): the MeetmeshCertificateExpiringSoon
alert reads it (deploy/prometheus/rules).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

DEV_CERT, DEV_KEY = "dev-cert.pem", "dev-key.pem"
EXPIRY_METRIC = "meetmesh_tls_certificate_expiry_timestamp_seconds"


def not_after(cert_file: str | Path) -> datetime.datetime:
    """When the first certificate of a PEM chain (the server's own) expires."""
    cert = x509.load_pem_x509_certificate(Path(cert_file).read_bytes())
    return cert.not_valid_after_utc


def dev_certificate(folder: Path, days: int = 365) -> tuple[Path, Path]:
    """The development certificate and key under ``folder``, created when missing or expired."""
    cert_path, key_path = folder / DEV_CERT, folder / DEV_KEY
    if cert_path.is_file() and key_path.is_file():
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        if cert.not_valid_after_utc > datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=1):
            return cert_path, key_path
    folder.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "meetmesh development")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.IPAddress(ipaddress.ip_address("::1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_bytes = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key_bytes)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path
