"""``/docs``: the interactive API reference, and ``/docs/grpc``, the gRPC reference.

``/docs`` serves the built files of ``clients/docs`` (Swagger UI copied from npm at build time,
``make web-build``; nothing comes from a CDN) from ``edge.docs_root``; without a build it falls
back to the static page of ``reference.py``. ``/docs/grpc`` is rendered here from the descriptor
set (``grpc_reference.py``), once per host name the page is asked for.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from google.protobuf import descriptor_pb2

from services.edge.asgi import Request, Send, respond
from services.edge.config import EdgeSettings
from services.edge.grpc_reference import render_grpc_reference
from services.edge.reference import render_reference

_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}


class DocsRoute:
    def __init__(self, settings: EdgeSettings, openapi: bytes | None = None) -> None:
        self.settings = settings
        self.root = settings.edge.docs_root
        self._openapi = openapi
        self._grpc: dict[str, bytes] = {}
        self._fallback: bytes | None = None

    @staticmethod
    def handles(path: str) -> bool:
        return path == "/docs" or path.startswith("/docs/")

    def _file(self, relative: str) -> Path | None:
        """A file of the built reference; nothing outside its folder."""
        if not self.root.is_dir() or not relative or any(p in ("", ".", "..") for p in relative.split("/")):
            return None
        path = (self.root / relative).resolve()
        return path if path.is_file() and path.is_relative_to(self.root.resolve()) else None

    def _service_url(self, package: str) -> str:
        name = package.split(".")[1] if package.count(".") >= 2 else package
        try:
            endpoint = self.settings.endpoint(name)
        except (AttributeError, KeyError, ValueError):
            return f"http://{name}:GRPC_PORT"
        return f"http://{endpoint.address}"

    def grpc_page(self, host: str) -> bytes:
        if host not in self._grpc:
            fds = descriptor_pb2.FileDescriptorSet.FromString(self.settings.edge.descriptor_set.read_bytes())
            self._grpc[host] = render_grpc_reference(fds, f"http://{host}", self._service_url)
        return self._grpc[host]

    async def serve(self, request: Request, send: Send, openapi: bytes) -> bool:
        """Answers a GET/HEAD under /docs; False when there is no such page (a 404 follows)."""
        path = request.raw_path.removeprefix("/docs").lstrip("/")
        headers = [("cache-control", "no-cache")]
        if path in ("grpc", "grpc/"):
            body, content_type = (
                self.grpc_page(request.header("host") or "127.0.0.1:8800"),
                "text/html; charset=utf-8",
            )
        elif path == "":
            index = self._file("index.html")
            if index is not None:
                body, content_type = index.read_bytes(), "text/html; charset=utf-8"
            else:
                if self._fallback is None:
                    self._fallback = render_reference(openapi)
                body, content_type = self._fallback, "text/html; charset=utf-8"
        else:
            found = self._file(path)
            if found is None:
                return False
            body = found.read_bytes()
            content_type = (
                _TYPES.get(found.suffix) or mimetypes.guess_type(found.name)[0] or "application/octet-stream"
            )
            headers = [("cache-control", "public, max-age=3600")]
        request.protocol = "builtin"
        await respond(
            send,
            request,
            200,
            [("content-type", content_type), *headers],
            body if request.method == "GET" else b"",
        )
        return True
