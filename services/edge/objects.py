"""``/objects/<key>``: the embedded default's object folder, served under signed, expiring URLs.

Only when the platform keeps objects in a local folder (no ``MEETMESH_OBJECTS__ENDPOINT``); with S3
the services hand out S3's own presigned URLs and this route answers 404. Every request must carry a
URL the services signed (``services.kit.objects.UrlSigner``): the method, the key, the expiry, the
user it was issued to (who must present their access token) and, for uploads, the largest body and
the content type are all under the signature. Anything else -> 403; a missing object -> 404.
"""

from __future__ import annotations

import asyncio
import mimetypes
import os
from pathlib import Path
from urllib.parse import unquote

from grpclib.const import Status

from services.edge.admission import Admission
from services.edge.asgi import Receive, Request, Send, body_chunks, respond, start
from services.edge.status import EdgeError
from services.kit.errors import MeetmeshError
from services.kit.objects import ObjectStoreSettings, SignatureError, UrlSigner, key_problem, local_signer

PREFIX = "/objects/"
_CHUNK = 256 * 1024


class ObjectRoute:
    def __init__(self, settings: ObjectStoreSettings, keys_dir: Path, admission: Admission) -> None:
        self.enabled = not settings.endpoint
        self.root = Path(settings.local_dir)
        self.admission = admission
        self._signer: UrlSigner | None = None
        self._settings = settings
        self._keys_dir = keys_dir

    @property
    def signer(self) -> UrlSigner:
        if self._signer is None:
            self._signer = local_signer(self._settings, self._keys_dir)
        return self._signer

    def handles(self, request: Request) -> bool:
        return self.enabled and request.raw_path.startswith(PREFIX)

    async def _caller(self, request: Request) -> str | None:
        try:
            return await self.admission.subject(request)
        except MeetmeshError:
            return None

    async def serve(self, request: Request, receive: Receive, send: Send) -> None:
        request.protocol = "object"
        if request.method not in ("GET", "HEAD", "PUT"):
            raise EdgeError(
                Status.UNIMPLEMENTED, "objects are read with GET and written with PUT", http_status=405
            )
        key = unquote(request.raw_path[len(PREFIX) :])
        if key_problem(key):
            raise EdgeError(Status.INVALID_ARGUMENT, "not a valid object key", http_status=400)
        query = dict(request.query())
        caller = await self._caller(request) if query.get("u") else None
        try:
            allowed = self.signer.verify(key, request.method, query, caller)
        except SignatureError as exc:
            raise EdgeError(Status.PERMISSION_DENIED, str(exc), http_status=403) from None
        path = self.root / key
        if request.method == "PUT":
            await self._put(request, receive, send, path, allowed.max_bytes, allowed.content_type)
        else:
            await self._get(request, send, path)

    async def _get(self, request: Request, send: Send, path: Path) -> None:
        size = await asyncio.to_thread(_file_size, path)
        if size is None:
            raise EdgeError(Status.NOT_FOUND, "no such object", http_status=404)
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        headers = [
            ("content-type", content_type),
            ("content-length", str(size)),
            ("cache-control", "private"),
        ]
        await start(send, request, 200, headers)
        if request.method == "HEAD":
            await send({"type": "http.response.body", "body": b""})
            return
        with path.open("rb") as fh:
            while chunk := await asyncio.to_thread(fh.read, _CHUNK):
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    async def _put(
        self, request: Request, receive: Receive, send: Send, path: Path, max_bytes: int, content_type: str
    ) -> None:
        given_type = (request.header("content-type") or "").split(";")[0].strip()
        if content_type and given_type != content_type:
            raise EdgeError(Status.INVALID_ARGUMENT, f"Content-Type must be {content_type}", http_status=400)
        declared = request.header("content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_bytes:
            raise _over_the_limit()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.upload")
        try:
            with tmp.open("wb") as fh:
                async for chunk in body_chunks(receive, max_bytes, _over_the_limit):
                    await asyncio.to_thread(fh.write, chunk)
            tmp.replace(path)
        finally:
            tmp.unlink(missing_ok=True)
        await respond(send, request, 200, [])


def _over_the_limit() -> EdgeError:
    return EdgeError(Status.RESOURCE_EXHAUSTED, "the body is over the upload's limit", http_status=413)


def _file_size(path: Path) -> int | None:
    return path.stat().st_size if path.is_file() else None
