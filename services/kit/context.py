"""Per-call context: the caller's address and deadline, for propagation downstream."""

from __future__ import annotations

import contextvars
import ipaddress
from collections.abc import Iterable, Sequence

from grpclib.metadata import Deadline

_deadline: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar("deadline", default=None)
_client_address: contextvars.ContextVar[str] = contextvars.ContextVar("client_address", default="")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


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


def parse_networks(values: Iterable[str]) -> tuple[Network, ...]:
    """CIDR blocks (or single addresses) of trusted proxies; ValueError for a malformed one."""
    return tuple(ipaddress.ip_network(value.strip(), strict=False) for value in values)


def resolve_client_address(peer_host: str, forwarded_for: str | None, trusted: Sequence[Network] = ()) -> str:
    """The end client's address: the peer's own, unless the peer is a trusted proxy (the edge)
    that says whom it forwards for in ``x-forwarded-for``.

    Only the last entry of the header counts (the one the trusted proxy added itself: earlier
    entries come from the client and prove nothing), and only when it is an IP address.
    """
    if not forwarded_for or not trusted:
        return peer_host
    try:
        ip = ipaddress.ip_address(peer_host)
    except ValueError:
        return peer_host
    if not any(ip in net for net in trusted):
        return peer_host
    claimed = forwarded_for.rsplit(",", 1)[-1].strip()
    try:
        return str(ipaddress.ip_address(claimed))
    except ValueError:
        return peer_host
