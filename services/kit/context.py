"""Per-call context: the caller's address and deadline, for propagation downstream."""

from __future__ import annotations

import contextvars
import ipaddress

from grpclib.metadata import Deadline

_deadline: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar("deadline", default=None)
_client_address: contextvars.ContextVar[str] = contextvars.ContextVar("client_address", default="")

TRUSTED_PROXIES = ("127.0.0.0/8", "::1/128")


def current_deadline() -> Deadline | None:
    return _deadline.get()


def downstream_timeout(default: float | None = None) -> float | None:
    """Seconds left of the current call's deadline, for a call this one makes downstream."""
    deadline = _deadline.get()
    if deadline is None:
        return default
    remaining = max(deadline.time_remaining(), 0.001)
    return remaining if default is None else min(remaining, default)


def client_address() -> str:
    """The address of the end client (through a trusted proxy's x-forwarded-for)."""
    return _client_address.get()


def resolve_client_address(peer_host: str, forwarded_for: str | None) -> str:
    if forwarded_for:
        try:
            ip = ipaddress.ip_address(peer_host)
        except ValueError:
            return peer_host
        if any(ip in ipaddress.ip_network(net) for net in TRUSTED_PROXIES):
            return forwarded_for.split(",")[0].strip()
    return peer_host
