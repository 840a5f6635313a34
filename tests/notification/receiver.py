"""A real HTTP server for the tests: records what it receives; per path it answers a status, or
accepts the connection and never answers (``hang``), or lets ``respond`` (a stand-in for a
provider's API) check the request and make the answer."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    port: int = 0
    received: list[Received] = field(default_factory=list)
    # path -> list of statuses to answer in turn (the last repeats); "hang" never answers.
    script: dict[str, list[Any]] = field(default_factory=dict)
    # Answers every request instead of ``script`` when set (it sees the method and the query too).
    respond: Callable[[Request, Received], Response] | None = None
    _server: uvicorn.Server | None = None
    # Set at stop: hanging handlers return, so the server can close.
    _release: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def at(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    async def _handle(self, request: Request) -> Response:
        path = request.url.path
        body = await request.body()
        received = Received(path, {k.lower(): v for k, v in request.headers.items()}, body)
        self.received.append(received)
        if self.respond is not None:
            return self.respond(request, received)
        answers = self.script.get(path, [200])
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if answer == "hang":
            await self._release.wait()
        return Response(status_code=int(answer))

    async def start(self) -> None:
        app = Starlette(routes=[Route("/{path:path}", self._handle, methods=["POST", "PUT"])])
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
        config.load()
        self._server = uvicorn.Server(config)
        self._server.lifespan = config.lifespan_class(config)
        await self._server.startup(sockets=[sock])

    async def stop(self) -> None:
        self._release.set()
        if self._server is not None:
            self._server.should_exit = True
            self._server.force_exit = True
            await self._server.shutdown()
