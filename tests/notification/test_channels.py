"""SMS and Web Push over real HTTP to receivers that check what a real provider checks.

Nothing outside the machine can be reached from the tests, so each receiver stands in for the
provider: the SMS one checks the request exactly as Twilio documents its Message resource API
(https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource: a form
POST to ``/2010-04-01/Accounts/{AccountSid}/Messages.json`` with HTTP basic auth, ``To``, ``From``,
``Body``; 201 with the message resource; errors as ``{"code", "message", "status"}``); the Web Push
one is a push service endpoint (RFC 8030) that verifies the VAPID JWT's ES256 signature (RFC 8292)
and decrypts the aes128gcm payload (RFC 8291/8188) with the subscription's private key, with its
own implementation on ``cryptography`` (not the library the service encrypts with).
"""

from __future__ import annotations

import base64
import json
import os
import re
import struct
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from meetmesh.notification.internal.v1 import send_grpc, send_pb2
from meetmesh.notification.v1 import notification_pb2 as pb
from services.notification.config import NotificationOptions
from tests.notification.conftest import Mailbox, notification_options
from tests.notification.receiver import Received, Receiver
from tests.notification.support import NotifyPlatform, deliveries_to, start_notify_platform
from tests.support import wait_until

SID = "AC" + uuid.uuid4().hex
TOKEN = uuid.uuid4().hex
FROM = "+15005550006"
_MESSAGES = re.compile(r"/2010-04-01/Accounts/(?P<sid>[^/]+)/Messages\.json")
_E164 = re.compile(r"\+[1-9][0-9]{7,14}")


def _b64url(data: str) -> bytes:
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


def _error(status: int, code: int, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message, "status": status}, status_code=status)


@dataclass
class Twilio:
    """Twilio's Messages API as its documentation describes the request; answers per ``To``."""

    # To -> statuses to answer in turn before 201 (e.g. [500] fails once).
    failures: dict[str, list[int]] = field(default_factory=dict)
    accepted: list[dict[str, str]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    def __call__(self, request: Request, received: Received) -> Response:
        match = _MESSAGES.fullmatch(received.path)
        if request.method != "POST" or match is None:
            self.refused.append(f"{request.method} {received.path}")
            return _error(404, 20404, "The requested resource was not found")
        expected = "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
        if received.headers.get("authorization") != expected or match["sid"] != SID:
            self.refused.append("authentication")
            return _error(401, 20003, "Authenticate")
        if not received.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            self.refused.append("content-type")
            return _error(400, 21620, "Invalid media type")
        form = parse_qs(received.body.decode(), keep_blank_values=True, strict_parsing=True)
        if any(len(values) != 1 for values in form.values()):
            self.refused.append("repeated parameter")
            return _error(400, 21600, "Repeated parameter")
        values = {k: v[0] for k, v in form.items()}
        to, sender, body = values.get("To", ""), values.get("From", ""), values.get("Body", "")
        if not _E164.fullmatch(to):
            return _error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if not _E164.fullmatch(sender):
            return _error(400, 21212, "Invalid 'From' Phone Number")
        if not body or len(body) > 1600:
            return _error(400, 21602, "Message body is required (at most 1600 characters).")
        queued = self.failures.get(to)
        if queued:
            status = queued.pop(0)
            code = {400: 21211, 429: 20429}.get(status, 20500)
            return _error(status, code, "Refused by the test")
        self.accepted.append(values)
        resource = {
            "sid": "SM" + uuid.uuid4().hex,
            "account_sid": SID,
            "to": to,
            "from": sender,
            "body": body,
            "status": "queued",
            "num_segments": "1",
            "direction": "outbound-api",
            "uri": f"/2010-04-01/Accounts/{SID}/Messages/SM.json",
        }
        return JSONResponse(resource, status_code=201)


@pytest.fixture
async def sms(
    stores: dict[str, str], keys_dir: Path, smtp: tuple[Mailbox, int]
) -> AsyncIterator[tuple[NotifyPlatform, Twilio]]:
    twilio = Twilio()
    server = Receiver(respond=twilio)
    await server.start()
    options: NotificationOptions = notification_options(
        smtp[1],
        sms_api_url=f"http://127.0.0.1:{server.port}",
        sms_account_sid=SID,
        sms_auth_token=TOKEN,
        sms_from=FROM,
    )
    notify = await start_notify_platform(stores, keys_dir, options, services=("notification",))
    try:
        yield notify, twilio
    finally:
        await notify.close()
        await server.stop()


async def test_sms_reaches_the_provider_api_as_documented_and_failures_retry_or_die(
    sms: tuple[NotifyPlatform, Twilio],
) -> None:
    notify, twilio = sms
    stub = send_grpc.NotificationSenderServiceStub(notify.channel("notification"))
    auth = {"authorization": notify.runtime.identity("meeting").authorization()}
    ok, flaky, invalid = "+4915112345678", "+8613812345678", "+15005550001"
    twilio.failures[flaky] = [500, 429]
    # Twilio refuses its magic "invalid" test number with 400/21211: our side sees it as
    # permanent; a 500 and a 429 are retried.
    twilio.failures[invalid] = [400] * 10

    async def send(phone: str) -> str:
        request = send_pb2.SendRequest(
            phone=phone, kind="message", params={"subject": "meetmesh", "text": "Your meeting starts soon"}
        )
        return (await stub.Send(request, metadata=auth)).delivery

    await send(ok)
    await send(flaky)
    await send(invalid)

    async def settled() -> bool:
        states = [[r.state for r in await deliveries_to(notify, p)] for p in (ok, flaky, invalid)]
        return states == [["sent"], ["sent"], ["dead"]]

    await wait_until(settled, within_s=20)
    assert twilio.refused == []
    by_to = {m["To"]: m for m in twilio.accepted}
    assert sorted(by_to) == sorted([ok, flaky]) and len(twilio.accepted) == 2
    assert by_to[ok] == {"To": ok, "From": FROM, "Body": "meetmesh\nYour meeting starts soon"}
    [row] = await deliveries_to(notify, flaky)
    assert row.attempts == 3 and row.last_status == 201
    [row] = await deliveries_to(notify, invalid)
    assert row.attempts == 1 and row.last_status == 400


# -- Web Push -------------------------------------------------------------------------------------
@dataclass
class Browser:
    """A browser's push subscription: its P-256 key pair and auth secret (RFC 8291)."""

    private_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    auth: bytes = field(default_factory=lambda: os.urandom(16))

    @property
    def public(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )

    def keys(self) -> tuple[str, str]:
        def enc(raw: bytes) -> str:
            return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

        return enc(self.public), enc(self.auth)

    def decrypt(self, body: bytes) -> bytes:
        """RFC 8188 aes128gcm with the RFC 8291 key derivation."""
        salt, rs, id_len = body[:16], struct.unpack("!I", body[16:20])[0], body[20]
        server_public = body[21 : 21 + id_len]
        records = body[21 + id_len :]
        peer = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), server_public)
        shared = self.private_key.exchange(ec.ECDH(), peer)
        info = b"WebPush: info\x00" + self.public + server_public
        ikm = HKDF(algorithm=hashes.SHA256(), length=32, salt=self.auth, info=info).derive(shared)
        cek = HKDF(
            algorithm=hashes.SHA256(), length=16, salt=salt, info=b"Content-Encoding: aes128gcm\x00"
        ).derive(ikm)
        nonce = HKDF(
            algorithm=hashes.SHA256(), length=12, salt=salt, info=b"Content-Encoding: nonce\x00"
        ).derive(ikm)
        plain = b""
        for seq, start in enumerate(range(0, len(records), rs)):
            iv = (int.from_bytes(nonce, "big") ^ seq).to_bytes(12, "big")
            record = AESGCM(cek).decrypt(iv, records[start : start + rs], None)
            unpadded = record.rstrip(b"\x00")
            assert unpadded[-1:] == (b"\x02" if start + rs >= len(records) else b"\x01")
            plain += unpadded[:-1]
        return plain


@dataclass
class PushService:
    """A push service endpoint: accepts a message only with a valid VAPID JWT for its origin,
    then decrypts it with the subscription's private key."""

    origin: str
    vapid_public_key: str = ""
    browsers: dict[str, Browser] = field(default_factory=dict)
    messages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)
    gone: set[str] = field(default_factory=set)

    def __call__(self, request: Request, received: Received) -> Response:
        try:
            return self._accept(request, received)
        except Exception as exc:
            self.refused.append(f"{received.path}: {type(exc).__name__}: {exc}")
            return Response(status_code=400)

    def _accept(self, request: Request, received: Received) -> Response:
        path = received.path
        if path in self.gone:
            return Response(status_code=410)  # the browser unsubscribed
        h = received.headers
        assert request.method == "POST" and h["content-encoding"] == "aes128gcm"
        assert int(h["ttl"]) > 0
        scheme, _, params = h["authorization"].partition(" ")
        assert scheme.lower() == "vapid", scheme
        parts = dict(p.strip().split("=", 1) for p in params.split(","))
        assert parts["k"] == self.vapid_public_key  # the key the browser subscribed with
        header_b64, claims_b64, signature_b64 = parts["t"].split(".")
        assert json.loads(_b64url(header_b64))["alg"] == "ES256"
        claims = json.loads(_b64url(claims_b64))
        assert claims["aud"] == self.origin
        assert time.time() < claims["exp"] <= time.time() + 24 * 3600
        assert claims["sub"].startswith(("mailto:", "https:"))
        signature = _b64url(signature_b64)
        der = encode_dss_signature(
            int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        )
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), _b64url(parts["k"])).verify(
            der, f"{header_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256())
        )
        message = json.loads(self.browsers[path].decrypt(received.body))
        self.messages.setdefault(path, []).append(message)
        return Response(status_code=201)


async def test_a_lobby_knock_is_pushed_encrypted_and_signed_to_the_hosts_browsers(
    notify: NotifyPlatform,
) -> None:
    service = PushService(origin="")
    server = Receiver(respond=service)
    await server.start()
    service.origin = f"http://127.0.0.1:{server.port}"
    try:
        host = await notify.client("Hannah Host")
        laptop, phone = "/push/laptop", "/push/phone"
        for path in (laptop, phone):
            browser = Browser()
            service.browsers[path] = browser
            p256dh, auth = browser.keys()
            reply = await notify.notifications.CreatePushSubscription(
                pb.CreatePushSubscriptionRequest(
                    subscription=pb.PushSubscription(endpoint=server.url(path), p256dh=p256dh, auth=auth)
                ),
                metadata=host.metadata,
            )
            service.vapid_public_key = reply.vapid_public_key
        service.gone.add(phone)
        meeting = await host.create_meeting(title="Board <b>meeting</b>", lobby_enabled=True)
        guest = await notify.client("Gina Guest")
        await guest.join(meeting.name)

        async def pushed() -> bool:
            return len(service.messages.get(laptop, [])) == 1

        await wait_until(pushed, within_s=20)
        assert service.refused == []
        [message] = service.messages[laptop]
        assert message["title"] == "Someone is waiting in the lobby"
        assert "Board <b>meeting</b>" in message["body"]  # plain text: no markup is interpreted
        assert urlsplit(message["url"]).query == f"meeting={meeting.name.split('/')[1]}"

        # The phone's push service said 410 Gone: that subscription is dropped, not retried.
        async def dropped() -> bool:
            store_subs = await _subscriptions(notify, host.user.name.split("/")[1])
            return [s.endpoint for s in store_subs] == [server.url(laptop)]

        await wait_until(dropped, within_s=20)
        assert phone not in service.messages
    finally:
        await server.stop()


async def _subscriptions(notify: NotifyPlatform, user_id: str) -> list[Any]:
    from services.notification.store import NotificationStore

    return await NotificationStore(notify.runtime.database("notification")).push_subscriptions_of(user_id)
