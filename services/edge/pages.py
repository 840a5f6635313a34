"""The edge's own pages (`/healthz`, `/metrics`, `/openapi.json`, `/docs` and `/docs/grpc` through
docs.py) and the web client's static files (`/`, deep links get `index.html`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from grpclib.const import Status
from starlette.exceptions import HTTPException
from starlette.staticfiles import StaticFiles

from services.edge.asgi import Receive, Request, Scope, Send, respond
from services.edge.docs import DocsRoute
from services.edge.reference import render_reference
from services.edge.status import EdgeError
from services.kit.telemetry import Telemetry


class SinglePageApp(StaticFiles):
    """The web client's files. A path that names no file, has no extension and is not under an API
    prefix gets ``index.html``: the client routes it (deep links such as ``/m/<id>``)."""

    async def get_response(self, path: str, scope: Scope) -> Any:
        try:
            return await super().get_response(path, scope)
        except HTTPException as exc:
            last = path.rsplit("/", 1)[-1]
            if exc.status_code != 404 or "." in last or path.split("/", 1)[0] in ("v1", "rtc"):
                raise
            return await super().get_response("index.html", scope)


class Pages:
    def __init__(
        self, telemetry: Telemetry, openapi: Path, web_root: Path, docs: DocsRoute | None = None
    ) -> None:
        self._telemetry = telemetry
        self._docs = docs
        self._openapi_path = openapi
        self._static = SinglePageApp(directory=web_root, html=True) if web_root.is_dir() else None
        self._openapi: bytes | None = None
        self._reference: bytes | None = None

    async def serve(self, request: Request, send: Send) -> bool:
        """Answers a GET/HEAD for one of the edge's own pages; False for any other path."""
        path = request.raw_path
        if path == "/healthz":
            body, content_type = b'{"status":"SERVING"}', "application/json"
        elif path == "/metrics":
            body, content_type = self._telemetry.exposition(), self._telemetry.content_type
        elif path == "/openapi.json":
            body, content_type = self._openapi_document(), "application/json"
        elif self._docs is not None and self._docs.handles(path):
            return await self._docs.serve(request, send, self._openapi_document())
        elif path in ("/docs", "/docs/"):
            if self._reference is None:
                self._reference = render_reference(self._openapi_document())
            body, content_type = self._reference, "text/html; charset=utf-8"
        else:
            return False
        request.protocol = "builtin"
        await respond(
            send, request, 200, [("content-type", content_type)], body if request.method == "GET" else b""
        )
        return True

    async def serve_static(self, request: Request, receive: Receive, send: Send) -> bool:
        """Answers a GET/HEAD from the web client's files; False when there are none to serve."""
        if self._static is None or request.method not in ("GET", "HEAD"):
            return False
        request.protocol = "static"
        try:
            await self._static(request.scope, receive, _marking(send, request))
        except HTTPException as exc:
            raise EdgeError(Status.NOT_FOUND, "no such file", http_status=exc.status_code) from None
        return True

    def _openapi_document(self) -> bytes:
        if self._openapi is None:
            try:
                self._openapi = self._openapi_path.read_bytes()
            except OSError:
                raise EdgeError(Status.NOT_FOUND, "no OpenAPI document; run `make gen`") from None
        return self._openapi


def _marking(send: Send, request: Request) -> Send:
    """Wraps `send` so the request records the status a sub-app sends."""

    async def wrapped(message: Any) -> None:
        if message["type"] == "http.response.start":
            request.http_status = message["status"]
            message["headers"] = list(message.get("headers", [])) + [
                (k.encode(), v.encode()) for k, v in request.extra_headers
            ]
        await send(message)

    return wrapped
