"""The services `meetmesh up` runs, in start order, and where each one's ``create`` lives.

Each entry is ``name -> "module:function"``; the function takes a ``Runtime`` and returns a
``ServiceSpec``. A service's ports come from ``PlatformSettings.<name>``.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable

from services.kit import Runtime, ServiceSpec

SERVICES: dict[str, str] = {
    "user": "services.user.wiring:create",
    "meeting": "services.meeting.wiring:create",
    "media": "services.media.wiring:create",
    "signaling": "services.signaling.wiring:create",
    "ai": "services.ai.wiring:create",
    "notification": "services.notification.wiring:create",
}

Factory = Callable[[Runtime], Awaitable[ServiceSpec]]


def factory(name: str) -> Factory:
    try:
        target = SERVICES[name]
    except KeyError:
        raise SystemExit(f"unknown service {name!r}; known: {', '.join(SERVICES)}") from None
    module, _, func = target.partition(":")
    created: Factory = getattr(importlib.import_module(module), func)
    return created
