"""Which address a call comes from: forwarded headers count only from trusted proxies (issue 11)."""

from __future__ import annotations

import pytest

from services.kit import PlatformSettings
from services.kit.context import parse_networks, resolve_client_address

EDGE = parse_networks(["10.0.0.5/32", "fd00::/64"])


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "expected"),
    [
        ("127.0.0.1", "203.0.113.9", (), "127.0.0.1"),  # nothing trusted by default, loopback included
        ("10.0.0.6", "203.0.113.9", EDGE, "10.0.0.6"),  # not the edge
        ("10.0.0.5", "203.0.113.9", EDGE, "203.0.113.9"),
        ("fd00::1", "2001:db8::7", EDGE, "2001:db8::7"),
        ("10.0.0.5", "198.51.100.1, 203.0.113.9", EDGE, "203.0.113.9"),  # the entry the edge added
        ("10.0.0.5", "not-an-address", EDGE, "10.0.0.5"),
        ("10.0.0.5", None, EDGE, "10.0.0.5"),
        ("unix-socket", "203.0.113.9", EDGE, "unix-socket"),
    ],
)
def test_resolve_client_address(peer: str, forwarded: str | None, trusted: tuple, expected: str) -> None:
    assert resolve_client_address(peer, forwarded, trusted) == expected


def test_trusted_proxies_are_validated() -> None:
    assert PlatformSettings(trusted_proxies=["10.0.0.5"]).trusted_proxies == ["10.0.0.5"]
    with pytest.raises(ValueError, match="trusted_proxies"):
        PlatformSettings(trusted_proxies=["10.0.0.300/8"])
