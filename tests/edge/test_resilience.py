"""The upstream going away and coming back, and the `/rtc` WebSocket proxy (against a real
websockets server standing in for signaling until the media issue brings it)."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed, InvalidStatus

from services.edge.config import RateLimit
from services.stack.servers import free_port
from tests.edge import grpcweb_client
from tests.edge.conftest import PLAIN_SERVERS, EdgeStack
from tests.support import wait_until

ROOT = Path(__file__).resolve().parents[2]


def _spawn_echo(port: int, echo_dir: Path) -> subprocess.Popen[bytes]:
    # Only the project's own folders: the test process's sys.path can hold entries that some
    # packages add at import time (onnxruntime adds a folder with a module named "types").
    paths = [ROOT / "gen", ROOT, ROOT / "clients" / "python", echo_dir]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(p) for p in paths)}
    return subprocess.Popen([sys.executable, "-m", "tests.edge.echo_service", str(port)], env=env)


async def _start_echo_process(port: int, echo_dir: Path) -> subprocess.Popen[bytes]:
    process = _spawn_echo(port, echo_dir)

    async def accepting() -> bool:
        assert process.poll() is None, "echo service exited"
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            return False
        writer.close()
        await writer.wait_closed()
        return True

    try:
        await wait_until(accepting, within_s=20, every_s=0.05)
    except BaseException:
        process.kill()
        raise
    return process


async def test_upstream_down_gives_unavailable_and_recovers(
    stack: EdgeStack, make_edge: Callable[..., str], echo_descriptors: Path
) -> None:
    """The upstream is a separate process that gets killed (SIGKILL) and started again."""
    port = free_port()
    url = make_edge(upstreams={"edgetest": f"127.0.0.1:{port}"})
    async with httpx.AsyncClient(timeout=10) as http:
        down = await http.post(url + "/v1/fail", json={})
        assert down.status_code == 503
        assert down.json()["code"] == 14
        web = await grpcweb_client.call(http, url, "/meetmesh.edgetest.v1.EchoService/Fail", b"")
        assert web.http_status == 200
        assert web.status == 14

        for _ in range(2):  # comes up, dies, comes up again
            process = await _start_echo_process(port, echo_descriptors.parent)
            try:
                assert (await http.post(url + "/v1/fail", json={})).status_code == 200
                web = await grpcweb_client.call(http, url, "/meetmesh.edgetest.v1.EchoService/Fail", b"")
                assert web.status == 0
            finally:
                process.kill()
                process.wait(10)
            gone = await http.post(url + "/v1/fail", json={})
            assert gone.status_code == 503


@pytest.fixture
async def signaling_stand_in() -> AsyncIterator[tuple[str, list[Any]]]:
    """A real WebSocket server: echoes messages, reports the query and subprotocol, closes on 'bye'."""
    seen: list[Any] = []

    async def handler(ws: ServerConnection) -> None:
        seen.append((ws.request.path if ws.request else "", ws.subprotocol))
        async for message in ws:
            if message == "bye":
                await ws.close(code=4001, reason="done")
                return
            await ws.send(message)

    async with serve(handler, "127.0.0.1", 0, subprotocols=["meetmesh.v1"]) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}/rtc", seen


@pytest.mark.parametrize("server", PLAIN_SERVERS)
async def test_rtc_websocket_is_proxied(
    stack: EdgeStack, make_edge: Callable[..., str], signaling_stand_in: tuple[str, list[Any]], server: str
) -> None:
    upstream, seen = signaling_stand_in
    url = make_edge(server=server, signaling_ws_url=upstream).replace("http://", "ws://")
    async with connect(url + "/rtc?token=abc", subprotocols=["meetmesh.v1"]) as ws:
        assert ws.subprotocol == "meetmesh.v1"
        await ws.send("hello")
        assert await asyncio.wait_for(ws.recv(), 5) == "hello"
        await ws.send(b"\x00\x01binary")
        assert await asyncio.wait_for(ws.recv(), 5) == b"\x00\x01binary"
        await ws.send("bye")
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4001
    assert seen == [("/rtc?token=abc", "meetmesh.v1")]


@pytest.mark.parametrize("server", PLAIN_SERVERS)
async def test_rtc_upstream_down_is_503_and_other_paths_refused(
    stack: EdgeStack, make_edge: Callable[..., str], server: str
) -> None:
    url = make_edge(server=server, signaling_ws_url=f"ws://127.0.0.1:{free_port()}/rtc").replace(
        "http://", "ws://"
    )
    with pytest.raises(InvalidStatus) as refused:
        await connect(url + "/rtc")
    assert refused.value.response.status_code == 503
    with pytest.raises(InvalidStatus) as other:
        await connect(url + "/elsewhere")
    assert other.value.response.status_code == 403


@pytest.mark.parametrize("server", PLAIN_SERVERS)
async def test_rtc_client_closing_first_logs_no_error(
    stack: EdgeStack, make_edge: Callable[..., str], caplog: pytest.LogCaptureFixture, server: str
) -> None:
    """Issue 11: "Task exception was never retrieved ... ClientDisconnected" whenever the client
    closed first while signaling was still sending."""
    ended: list[int] = []

    async def chatty(ws: ServerConnection) -> None:  # sends until its peer (the edge) goes
        try:
            while True:
                await ws.send("tick")
                await asyncio.sleep(0.001)
        except ConnectionClosed:
            pass
        finally:
            ended.append(1)

    caplog.set_level(logging.WARNING)
    async with serve(chatty, "127.0.0.1", 0) as signaling:
        port = next(iter(signaling.sockets)).getsockname()[1]
        url = make_edge(server=server, signaling_ws_url=f"ws://127.0.0.1:{port}/rtc").replace(
            "http://", "ws://"
        )
        for i in range(6):
            ws = await connect(url + "/rtc")
            assert await asyncio.wait_for(ws.recv(), 5) == "tick"
            if i % 2:
                await ws.close()
            else:  # gone without a closing handshake
                ws.transport.abort()
        await wait_until(lambda: _true(len(ended) == 6), within_s=10)
    gc.collect()  # "never retrieved" is reported when the task is collected
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]


async def _true(value: bool) -> bool:
    return value


async def test_rtc_upgrades_are_rate_limited_per_address(
    stack: EdgeStack, make_edge: Callable[..., str], signaling_stand_in: tuple[str, list[Any]]
) -> None:
    """The per-address limit applies to `/rtc` as to every other request (issue 11, defect 4's
    class: anything the edge does before a token is checked must be limited)."""
    upstream, seen = signaling_stand_in
    url = make_edge(signaling_ws_url=upstream, rate_limit_address=RateLimit(rate=0.5, burst=2))
    ws_url = url.replace("http://", "ws://") + "/rtc"
    for _ in range(2):
        async with connect(ws_url, subprotocols=["meetmesh.v1"]) as ws:
            await ws.send("hello")
            assert await asyncio.wait_for(ws.recv(), 5) == "hello"
    with pytest.raises(InvalidStatus) as limited:
        await connect(ws_url, subprotocols=["meetmesh.v1"])
    assert limited.value.response.status_code == 429
    assert int(limited.value.response.headers["retry-after"]) >= 1
    assert len(seen) == 2  # the refused one never reached signaling
