"""ICE settings of the media service: the UDP port range and coturn-style TURN credentials."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac

import pytest
from aiortc import RTCPeerConnection

from services.kit.ice import IceSettings, turn_credentials
from services.media import network
from services.media.wiring import ice_configuration
from services.stack.servers import free_port


async def test_host_candidates_use_the_configured_port_range() -> None:
    network.use_host_addresses(["127.0.0.1"])
    low = min(free_port(), 65500)  # busy ports inside the range are skipped
    network.PortRange(low, low + 9).install(asyncio.get_running_loop())
    peers = [RTCPeerConnection() for _ in range(3)]
    try:
        ports = []
        for pc in peers:
            pc.addTransceiver("video", direction="recvonly")
            await pc.setLocalDescription(await pc.createOffer())
            ports += [
                int(line.split()[5]) for line in pc.localDescription.sdp.splitlines() if "typ host" in line
            ]
        assert len(ports) == 3
        assert all(low <= port <= low + 9 for port in ports)
        assert len(set(ports)) == 3
    finally:
        for pc in peers:
            await pc.close()


def test_port_range_settings_are_validated() -> None:
    assert IceSettings(udp_port_min=50000, udp_port_max=50100).port_range == (50000, 50100)
    assert IceSettings().port_range is None
    with pytest.raises(ValueError, match="range"):
        IceSettings(udp_port_min=50100, udp_port_max=50000)


def test_turn_credentials_follow_coturns_rest_scheme() -> None:
    username, password = turn_credentials("s3cret", "alice", ttl_s=60)
    expiry, user = username.split(":")
    assert user == "alice"
    assert int(expiry) > 0
    expected = base64.b64encode(hmac.new(b"s3cret", username.encode(), hashlib.sha1).digest()).decode()
    assert password == expected
    config = ice_configuration(
        IceSettings(
            stun_urls=["stun:127.0.0.1:3478"], turn_urls=["turn:127.0.0.1:3478"], turn_secret="s3cret"
        ),
        "alice",
    )
    assert [s.urls for s in config.iceServers] == [["stun:127.0.0.1:3478"], ["turn:127.0.0.1:3478"]]
    assert config.iceServers[1].username.endswith(":alice")
