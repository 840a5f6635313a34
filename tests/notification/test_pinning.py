"""The SSRF guard checks the addresses the connection uses (DNS rebinding), over real HTTP to a
real receiver on loopback.

The name ``rebind.example.test`` is answered by a resolver this test configures in place of DNS
(a DNS server the test could point the system's resolver at cannot be installed here): it answers
a public address first and 127.0.0.1 afterwards, as an attacker's name server would.
"""

from __future__ import annotations

import socket

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from services.notification.channels import Permanent
from services.notification.channels import webhooks as wh
from services.notification.channels.http import GuardedResolver, HttpClient
from tests.notification.receiver import Receiver

NAME = "rebind.example.test"
PUBLIC = "93.184.215.14"


class Rebinding(AbstractResolver):
    """Answers ``NAME`` with a public address on the first question, 127.0.0.1 on every later one."""

    def __init__(self) -> None:
        self.asked = 0

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if host != NAME:
            raise socket.gaierror(socket.EAI_NONAME, "unknown name")
        self.asked += 1
        address = PUBLIC if self.asked == 1 else "127.0.0.1"
        return [
            {
                "hostname": host,
                "host": address,
                "port": port,
                "family": socket.AF_INET,
                "proto": 0,
                "flags": 0,
            }
        ]

    async def close(self) -> None:
        pass


def _client(guard: GuardedResolver) -> HttpClient:
    return HttpClient(timeout_s=2.0, limit=4, limit_per_host=2, guard=guard)


async def test_a_name_that_rebinds_to_loopback_is_refused_when_connecting(receiver: Receiver) -> None:
    guard = GuardedResolver(allow_private=False, allow_loopback=False, inner=Rebinding())
    url = f"http://{NAME}:{receiver.port}/hook"
    await wh.check_url(url, guard)  # the check sees the public address and passes
    client = _client(guard)
    try:
        with pytest.raises(Permanent, match="loopback"):
            await wh.post(client, url, b"{}", [wh.new_secret()], "msg_1")
    finally:
        await client.close()
    assert receiver.received == []
    # The check alone, asked again, now refuses it too.
    with pytest.raises(wh.UnsafeUrl, match="loopback"):
        await wh.check_url(url, guard)


async def test_the_connection_goes_to_the_address_the_guard_saw(receiver: Receiver) -> None:
    """Control: where loopback is allowed, the same name reaches the receiver through the
    resolver's answer (so the refusal above is the guard's, not a failure to connect)."""
    rebinding = Rebinding()
    rebinding.asked = 1  # past its public answer
    client = _client(GuardedResolver(allow_private=False, allow_loopback=True, inner=rebinding))
    try:
        secret = wh.new_secret()
        status = await wh.post(client, f"http://{NAME}:{receiver.port}/hook", b'{"a":1}', [secret], "msg_2")
        # A second delivery reuses the kept-alive connection: the name is not asked again.
        await wh.post(client, f"http://{NAME}:{receiver.port}/hook", b'{"a":2}', [secret], "msg_3")
    finally:
        await client.close()
    assert status == 200
    assert [r.body for r in receiver.at("/hook")] == [b'{"a":1}', b'{"a":2}']
    assert receiver.at("/hook")[0].headers["webhook-id"] == "msg_2"
    assert rebinding.asked == 2


async def test_ip_literals_are_refused_without_a_resolver(receiver: Receiver) -> None:
    client = _client(GuardedResolver(allow_private=True, allow_loopback=False))
    try:
        for url in (
            receiver.url("/x"),
            f"http://[::ffff:127.0.0.1]:{receiver.port}/x",
            "http://169.254.169.254/",
        ):
            with pytest.raises(Permanent, match="refused URL"):
                await wh.post(client, url, b"{}", [wh.new_secret()], "msg_4")
    finally:
        await client.close()
    assert receiver.received == []
