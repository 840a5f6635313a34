"""A real HTTP server for the tests: records what it receives; per path it answers a status, or
accepts the connection and never answers (``hang``), or holds the answer (200) until an
``asyncio.Event`` in the script is set, or lets ``respond`` (a stand-in for a
provider's API) check the request and make the answer."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Coroutine
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
    hangs_ended_before: int = 0  # hanging requests whose client had given up when this one came


@dataclass
class Receiver:
    port: int = 0
    received: list[Received] = field(default_factory=list)
    # path -> list of statuses to answer in turn (the last repeats); "hang" never answers; an
    # asyncio.Event answers 200 once it is set.
    script: dict[str, list[Any]] = field(default_factory=dict)
    hangs_ended: int = 0  # hanging requests whose client gave up (disconnected)
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
        headers = {k.lower(): v for k, v in request.headers.items()}
        received = Received(path, headers, body, self.hangs_ended)
        self.received.append(received)
        if self.respond is not None:
            return self.respond(request, received)
        answers = self.script.get(path, [200])
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer, asyncio.Event):
            await self._until_released_or(answer.wait())
            return Response(status_code=200)
        if answer == "hang":  # until the client gives up (counted) or the receiver stops
            await self._until_released_or(_disconnected(request))
            if not self._release.is_set():
                self.hangs_ended += 1
            return Response(status_code=503)
        return Response(status_code=int(answer))

    async def _until_released_or(self, event: Coroutine[Any, Any, Any]) -> None:
        """Wait for ``event`` or for the receiver to stop, whichever comes first."""
        waits = {asyncio.ensure_future(event), asyncio.ensure_future(self._release.wait())}
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for wait in waits:
            wait.cancel()

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


async def _disconnected(request: Request) -> None:
    """Returns once the client has closed the connection (the body was read already)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass
