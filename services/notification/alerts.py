"""The Alertmanager receiver: ``POST /alertmanager`` (webhook payload version 4) on the HTTP
side port. Each alert becomes an email to every address in ``admin_emails`` and an
``alert.firing`` / ``alert.resolved`` event for admins' webhooks. A malformed payload: 400."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .routing import add_webhook_deliveries, address_key, webhook_body
from .store import delivery

Consume = Callable[[str, Callable[[AsyncSession], Awaitable[None]]], Awaitable[bool]]


class BadPayload(ValueError):
    pass


def parse(raw: bytes) -> list[dict[str, Any]]:
    """The alerts of an Alertmanager v4 webhook payload, checked."""
    try:
        payload = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadPayload("the body is not JSON") from None
    if not isinstance(payload, dict) or str(payload.get("version")) != "4":
        raise BadPayload('expected an object with "version": "4"')
    alerts = payload.get("alerts")
    if not isinstance(alerts, list) or not alerts:
        raise BadPayload('"alerts" must be a non-empty list')
    checked = []
    for i, alert in enumerate(alerts):
        if not isinstance(alert, dict):
            raise BadPayload(f"alerts[{i}] must be an object")
        status = alert.get("status")
        labels = alert.get("labels")
        annotations = alert.get("annotations", {})
        if status not in ("firing", "resolved"):
            raise BadPayload(f'alerts[{i}].status must be "firing" or "resolved"')
        if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
            raise BadPayload(f"alerts[{i}].labels must map names to strings")
        if not isinstance(annotations, dict):
            raise BadPayload(f"alerts[{i}].annotations must be an object")
        starts = alert.get("startsAt", "")
        if not isinstance(starts, str):
            raise BadPayload(f"alerts[{i}].startsAt must be a string")
        checked.append(
            {
                "status": status,
                "labels": labels,
                "annotations": {k: str(v) for k, v in annotations.items()},
                "startsAt": starts,
                "endsAt": str(alert.get("endsAt", "")),
                "fingerprint": str(alert.get("fingerprint", "")),
            }
        )
    return checked


def route(
    consume: Consume, admin_emails: list[str], token: str, kick: Callable[[], None]
) -> Callable[[Request], Awaitable[Response]]:
    async def alertmanager(request: Request) -> Response:
        if token:
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                return JSONResponse({"error": "unauthorized"}, status_code=401)
        raw = await request.body()
        try:
            alerts = parse(raw)
        except BadPayload as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        queued = 0
        for alert in alerts:
            identity = alert["fingerprint"] or json.dumps(alert["labels"], sort_keys=True)
            # The same alert in the same state (Alertmanager repeats notifications) is sent once.
            key = (
                "alert:"
                + hashlib.sha256(f"{identity}|{alert['status']}|{alert['startsAt']}".encode()).hexdigest()[
                    :40
                ]
            )
            params = {
                "status": alert["status"],
                "alertname": alert["labels"].get("alertname", "alert"),
                "summary": alert["annotations"].get("summary") or alert["annotations"].get("description", ""),
            }

            async def effect(
                session: AsyncSession,
                key: str = key,
                alert: dict[str, Any] = alert,
                params: dict[str, str] = params,
            ) -> None:
                for address in admin_emails:
                    session.add(
                        delivery(f"{key}:email:{address_key(address)}", "email", "alert", address, params)
                    )
                body = webhook_body(f"alert.{alert['status']}", datetime.now(UTC), alert)
                await add_webhook_deliveries(session, key, f"alert.{alert['status']}", body, owner=None)

            if await consume(key, effect):
                queued += 1
        kick()
        return JSONResponse({"alerts": len(alerts), "new": queued})

    return alertmanager
