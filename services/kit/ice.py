"""ICE for the platform's WebRTC peers: the one settings block signaling and media share, the ICE
servers handed to a participant (with TURN credentials in coturn's REST-API scheme) and the
process-wide choice of host-candidate addresses.

Configured once for the platform (``MEETMESH_ICE__*``, ``PlatformSettings.ice``): signaling hands
the servers to clients in ``JoinResponse``, media uses the same servers and addresses for its own
peer connections.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel, Field, model_validator


class IceSettings(BaseModel):
    """STUN/TURN servers, TURN credentials, host-candidate addresses and the UDP port range."""

    #: STUN server URLs handed to clients and used by media (`stun:host:port`).
    stun_urls: list[str] = Field(default_factory=list)
    #: TURN server URLs (`turn:host:port`); empty: no relay.
    turn_urls: list[str] = Field(default_factory=list)
    #: Static TURN credentials (used when `turn_secret` is empty).
    turn_username: str = ""
    #: Static TURN password (used when `turn_secret` is empty). Secret.
    turn_password: str = Field(default="", repr=False)
    #: coturn's `static-auth-secret`: time-limited credentials per participant are derived from it
    #: (TURN REST API). Secret.
    turn_secret: str = Field(default="", repr=False)
    #: Lifetime of derived TURN credentials, in seconds.
    turn_ttl_s: int = Field(default=3600, ge=60)
    #: Host candidates are gathered on these addresses only; loopback by default, for one machine
    #: (empty: every interface but loopback, aioice's choice).
    host_addresses: list[str] = Field(default_factory=lambda: ["127.0.0.1"])
    #: Lowest UDP port for media's host candidates (0 and 0: ephemeral ports).
    udp_port_min: int = Field(default=0, ge=0, le=65535)
    #: Highest UDP port for media's host candidates (0 and 0: ephemeral ports).
    udp_port_max: int = Field(default=0, ge=0, le=65535)

    @model_validator(mode="after")
    def _port_range(self) -> IceSettings:
        if (self.udp_port_min == 0) != (self.udp_port_max == 0) or self.udp_port_min > self.udp_port_max:
            raise ValueError("udp_port_min and udp_port_max must both be 0 or form a range")
        return self

    @property
    def port_range(self) -> tuple[int, int] | None:
        return (self.udp_port_min, self.udp_port_max) if self.udp_port_min else None


@dataclass(frozen=True)
class IceServer:
    urls: list[str]
    username: str = ""
    credential: str = ""


def turn_credentials(secret: str, user: str, ttl_s: int = 3600) -> tuple[str, str]:
    """Username ``<expiry>:<user>``, password base64(HMAC-SHA1(secret, username))."""
    username = f"{int(time.time()) + ttl_s}:{user}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


def ice_servers(settings: IceSettings, participant: str) -> list[IceServer]:
    """The ICE servers for one participant: STUN, then TURN with its credentials."""
    servers = [IceServer(list(settings.stun_urls))] if settings.stun_urls else []
    if settings.turn_urls:
        username, credential = settings.turn_username, settings.turn_password
        if settings.turn_secret:
            username, credential = turn_credentials(settings.turn_secret, participant, settings.turn_ttl_s)
        servers.append(IceServer(list(settings.turn_urls), username, credential))
    return servers


def use_host_addresses(addresses: Sequence[str] | None) -> None:
    """Gather host candidates only on these addresses, process-wide (None or empty restores
    aioice's choice: every interface but loopback)."""
    import aioice.ice  # media's dependency; imported only by the processes that gather candidates

    original = getattr(aioice.ice, "_meetmesh_original_get_host_addresses", aioice.ice.get_host_addresses)
    aioice.ice._meetmesh_original_get_host_addresses = original  # type: ignore[attr-defined]
    if not addresses:
        aioice.ice.get_host_addresses = original
        return
    fixed = list(addresses)

    def get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [a for a in fixed if (":" in a and use_ipv6) or (":" not in a and use_ipv4)]

    aioice.ice.get_host_addresses = get_host_addresses
