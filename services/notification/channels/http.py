"""The service's one HTTP stack (aiohttp): a keep-alive pool per purpose, bounded by timeouts, never
following redirects; for webhooks a resolver that refuses addresses the platform may not reach.

The guard sits in the connector's resolver, so the addresses it checks are the very addresses the
connection then uses: a name that answers a public address when checked and 127.0.0.1 a moment
later (DNS rebinding) is refused when it is connected to, whatever an earlier check saw. A URL
whose host is an IP literal never reaches a resolver; :meth:`HttpClient.post` checks those itself.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Mapping
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver
from yarl import URL

from . import Permanent, Transient

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
# What is read of an answer's body at most (the status is what counts; the rest is dropped).
_BODY_LIMIT = 64 * 1024


class BlockedAddress(OSError):
    """A host resolved to an address this client may not connect to."""


def blocked(address: Address, allow_private: bool, allow_loopback: bool) -> str:
    """Why ``address`` may not be reached (``""``: it may)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback:
        return "" if allow_loopback else "loopback"
    if address.is_link_local or address.is_multicast or address.is_unspecified or address.is_reserved:
        return "private or reserved"  # cloud metadata (169.254.169.254) and friends: never
    if address.is_private or getattr(address, "is_site_local", False):
        return "" if allow_private else "private or reserved"
    return ""


def parse_ip(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


class GuardedResolver(AbstractResolver):
    """Resolves with ``inner`` (the system's resolver unless given) and raises
    :class:`BlockedAddress` if any answer is an address the settings do not allow."""

    def __init__(
        self, *, allow_private: bool, allow_loopback: bool, inner: AbstractResolver | None = None
    ) -> None:
        self.allow_private = allow_private
        self.allow_loopback = allow_loopback
        self._inner = inner

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if self._inner is None:
            self._inner = ThreadedResolver()
        answers = await self._inner.resolve(host, port, family)
        for answer in answers:
            address = parse_ip(answer["host"])
            why = blocked(address, self.allow_private, self.allow_loopback) if address is not None else "bad"
            if why:
                raise BlockedAddress(f"resolves to a {why} address")
        return answers

    def refuses_literal(self, host: str) -> str:
        """Why ``host``, when an IP literal (which never reaches a resolver), may not be reached:
        ``""`` when it may, or when it is a name."""
        literal = parse_ip(host)
        return blocked(literal, self.allow_private, self.allow_loopback) if literal is not None else ""

    async def close(self) -> None:
        if self._inner is not None:
            await self._inner.close()


class HttpClient:
    """One aiohttp session: at most ``limit`` connections, ``limit_per_host`` to one host, kept
    alive between requests; each request bounded by ``timeout_s`` in all (connecting, sending,
    waiting for and reading the answer) and by ``connect_s`` for the connection; no redirects.

    With ``guard`` set, the connections go only to addresses it allows (see the module's doc)."""

    def __init__(
        self,
        *,
        timeout_s: float,
        limit: int,
        limit_per_host: int = 0,
        guard: GuardedResolver | None = None,
        connect_s: float = 5.0,
    ) -> None:
        self.guard = guard
        self.timeout = aiohttp.ClientTimeout(total=timeout_s, sock_connect=min(connect_s, timeout_s))
        self._limit = limit
        self._limit_per_host = limit_per_host
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:  # made on first use, inside the running loop
            connector = aiohttp.TCPConnector(
                limit=self._limit,
                limit_per_host=self._limit_per_host,
                resolver=self.guard,
                keepalive_timeout=30.0,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=self.timeout,
                auto_decompress=False,
                trust_env=False,  # no proxy from the environment: it would connect instead of us
                skip_auto_headers=("Accept-Encoding",),
            )
        return self._session

    async def post(
        self,
        url: str,
        *,
        data: bytes | Mapping[str, str],
        headers: Mapping[str, str],
        auth: tuple[str, str] | None = None,
        timeout_s: float | None = None,
    ) -> int:
        """POST and return the answer's status code. Raises :class:`Permanent` when the guard
        refuses the address, :class:`Transient` ("timed out", or the error's type) when no
        answer came."""
        target = URL(url)
        if self.guard is not None and target.host is not None:
            why = self.guard.refuses_literal(target.host)
            if why:
                raise Permanent(f"refused URL: a {why} address")
        options: dict[str, Any] = {"allow_redirects": False}
        sent = dict(headers)
        if auth is not None:
            sent["Authorization"] = aiohttp.encode_basic_auth(*auth)
        if timeout_s is not None:
            options["timeout"] = aiohttp.ClientTimeout(
                total=timeout_s, sock_connect=min(self.timeout.sock_connect or timeout_s, timeout_s)
            )
        try:
            async with self._open().post(target, data=data, headers=sent, **options) as reply:
                read = 0
                while read < _BODY_LIMIT:  # drained so that the connection can be reused
                    chunk = await reply.content.readany()
                    if not chunk:
                        break
                    read += len(chunk)
                return reply.status
        except aiohttp.ClientConnectorDNSError as exc:
            if isinstance(exc.os_error, BlockedAddress):
                raise Permanent(f"refused URL: {exc.os_error}") from None
            raise Transient("the host does not resolve") from None
        except TimeoutError:
            raise Transient("timed out") from None
        except (aiohttp.ClientError, OSError) as exc:
            raise Transient(type(exc).__name__) from None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self.guard is not None:
            await self.guard.close()
