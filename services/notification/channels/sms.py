"""SMS through a provider interface; the adapter here speaks Twilio's REST API (a form POST to
``{url}/2010-04-01/Accounts/{sid}/Messages.json`` with basic auth), which several providers copy."""

from __future__ import annotations

import re
from typing import Protocol

from services.kit.logs import get_logger

from ..config import NotificationOptions
from . import Permanent, Transient
from .http import HttpClient

log = get_logger("meetmesh.notification.sms")
_E164 = re.compile(r"^\+[1-9][0-9]{7,14}$")


def valid_phone(number: str) -> bool:
    return _E164.fullmatch(number) is not None


class SmsProvider(Protocol):
    async def send(self, to: str, text: str, idempotency_key: str) -> None: ...


class LogSms:
    """No provider configured: the message is logged (without the number or the text)."""

    async def send(self, to: str, text: str, idempotency_key: str) -> None:
        log.info("sms not sent: no provider configured", extra={"delivery": idempotency_key})


class TwilioCompatibleSms:
    def __init__(self, options: NotificationOptions, client: HttpClient) -> None:
        self.options = options
        self.client = client

    async def send(self, to: str, text: str, idempotency_key: str) -> None:
        o = self.options
        url = f"{o.sms_api_url.rstrip('/')}/2010-04-01/Accounts/{o.sms_account_sid}/Messages.json"
        try:
            status = await self.client.post(
                url,
                data={"To": to, "From": o.sms_from, "Body": text[:1600]},
                auth=(o.sms_account_sid, o.sms_auth_token),
                headers={"I-Twilio-Idempotency-Token": idempotency_key},
            )
        except Transient as exc:
            raise Transient(f"SMS provider: {exc}") from None
        if status == 429 or status >= 500:
            raise Transient(f"SMS provider answered {status}", status)
        if status >= 400:
            raise Permanent(f"SMS provider answered {status}", status)


def sms_provider(options: NotificationOptions, client: HttpClient) -> SmsProvider:
    return TwilioCompatibleSms(options, client) if options.sms_api_url else LogSms()
