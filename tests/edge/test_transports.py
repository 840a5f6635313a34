"""The edge over HTTP/2 and TLS (hypercorn): h2c on the plain port, HTTP/2 and HTTP/1.1 by ALPN on
the TLS listener with the development certificate the edge creates. The parity scenario (native
gRPC = gRPC-web = JSON) holds on each, and idle sockets and a slow-header client do not starve
anyone else."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from google.protobuf import json_format
from google.rpc import status_pb2

from services.edge.app import Edge
from services.edge.server import EdgeServers, start_servers, stop_servers
from tests.edge import grpcweb_client
from tests.edge.conftest import EdgeStack, edge_settings
from tests.edge.test_parity import MODULES, Call, native, over_json, scenario


@dataclasses.dataclass
class H2Edge:
    servers: EdgeServers
    cert: Path

    def client(self, transport: str) -> httpx.AsyncClient:
        context = ssl.create_default_context(cafile=str(self.cert))
        if transport == "h2c":  # HTTP/2 with prior knowledge on the plain port
            return httpx.AsyncClient(http1=False, http2=True, timeout=30)
        if transport == "tls-h2":
            return httpx.AsyncClient(http1=False, http2=True, verify=context, timeout=30)
        return httpx.AsyncClient(http2=False, verify=context, timeout=30)

    def url(self, transport: str) -> str:
        return self.servers.url if transport == "h2c" else self.servers.tls_url


@pytest.fixture(scope="module")
def h2_edge(stack: EdgeStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[H2Edge]:
    """A second edge in front of the same platform: hypercorn on the plain port (HTTP/1.1 + h2c)
    and the TLS listener, both on free ports; short idle deadlines."""
    options = stack.settings.edge.model_dump()
    tls_dir = tmp_path_factory.mktemp("tls")
    options.update(server="hypercorn", tls=True, tls_port=0, tls_dev_dir=tls_dir, idle_timeout_s=2.0)
    options.update(header_timeout_s=2.0)
    settings = edge_settings(stack.platform, options.pop("descriptor_set"), **options)
    servers = stack.run(start_servers(settings, Edge(settings)))
    try:
        yield H2Edge(servers, tls_dir / "dev-cert.pem")
    finally:
        stack.run(stop_servers(servers))


async def over_grpc_web(stack: EdgeStack, http: httpx.AsyncClient, call: Call) -> dict[str, Any]:
    """One call through the edge's gRPC-web path with httpx (whatever protocol the client speaks)."""
    _, pb2, _ = MODULES[call["service"]]
    rpc = stack.edge.catalog.rpcs[f"/{call['service']}/{call['method']}"]
    request = json_format.ParseDict(call["request"], getattr(pb2, rpc.input.name)())
    path = f"/{call['service']}/{call['method']}"
    reply = await grpcweb_client.call(
        http, stack.url, path, request.SerializeToString(), headers=call.get("headers")
    )
    if reply.status == 0:
        message = getattr(pb2, rpc.output.name).FromString(reply.messages[0])
        return {"ok": True, "responses": [json_format.MessageToDict(message)]}
    raw = reply.trailers.get("grpc-status-details-bin") or reply.headers.get("grpc-status-details-bin")
    details: list[str] = []
    if raw:
        status = status_pb2.Status.FromString(base64.b64decode(raw + "=" * (-len(raw) % 4)))
        details = [d.TypeName() for d in status.details]
    return {"ok": False, "code": reply.status, "message": unquote(reply.message), "details": details}


@pytest.mark.parametrize("transport", ["h2c", "tls-h2", "tls-h1.1"])
async def test_parity_over_http2_and_tls(stack: EdgeStack, h2_edge: H2Edge, transport: str) -> None:
    there = dataclasses.replace(stack, url=h2_edge.url(transport))
    calls = scenario(there)
    direct = [await native(there, call) for call in calls]
    async with h2_edge.client(transport) as http:
        transcoded = [await over_json(there, http, call) for call in calls]
        grpc_web = [await over_grpc_web(there, http, call) for call in calls]
        seen = (await http.get(there.url + "/healthz")).http_version
    assert seen == ("HTTP/1.1" if transport == "tls-h1.1" else "HTTP/2")
    for call, a, b, c in zip(calls, direct, grpc_web, transcoded, strict=True):
        label = f"{call['method']} {call['request']}"
        assert b == a, f"gRPC-web over {transport} differs from native gRPC for {label}"
        assert c == a, f"JSON over {transport} differs from native gRPC for {label}"
    assert {0, 3, 5, 6, 7, 16} <= {r.get("code", 0) for r in direct}


async def test_idle_sockets_and_a_slow_header_client_do_not_starve_others(h2_edge: H2Edge) -> None:
    host, port = "127.0.0.1", h2_edge.servers.port
    idle = [await asyncio.open_connection(host, port) for _ in range(300)]
    slow_reader, slow = await asyncio.open_connection(host, port)
    slow.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
    await slow.drain()
    try:
        async with h2_edge.client("h2c") as http, h2_edge.client("tls-h2") as https:
            started = time.perf_counter()
            for _ in range(5):
                assert (await http.get(h2_edge.url("h2c") + "/healthz")).status_code == 200
                assert (await https.get(h2_edge.url("tls-h2") + "/healthz")).status_code == 200
            assert time.perf_counter() - started < 5.0
        # The slow client is cut off (the idle deadline also covers a request's headers) ...
        async with asyncio.timeout(10):
            await slow_reader.read()  # whatever it answers, then the end
            assert slow_reader.at_eof()
        # ... and so are the idle sockets.
        async with asyncio.timeout(10):
            for reader, _ in idle[:20]:
                await reader.read()
                assert reader.at_eof()
    finally:
        slow.close()
        for _, writer in idle:
            writer.close()
