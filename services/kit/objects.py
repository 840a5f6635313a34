"""The object store every service uses: an S3 bucket (``minio`` client) or a local folder.

One interface, two backends:

* ``S3ObjectStore``: any S3 API (MinIO in production, SeaweedFS in ``--stack`` and the tests).
  Uploads and downloads by clients go straight to S3 through presigned PUT and GET URLs.
* ``LocalObjectStore``: a folder under ``./var`` (the embedded default). The edge serves it under
  ``/objects/<key>`` and accepts only URLs signed by ``UrlSigner`` (HMAC-SHA256 with a key from the
  keys folder): a URL states its method, expiry, the user it was issued to and, for uploads, the
  largest body and the content type; a changed, expired or another user's URL answers 403.

Keys are checked everywhere they are accepted (``check_key``): no ``..`` or ``.`` segments, no
absolute paths or backslashes, no control characters -> ``InvalidArgument``. When S3 cannot be
reached, every call raises ``ObjectStoreUnavailable`` (UNAVAILABLE with ``RetryInfo``) within the
configured timeout instead of hanging.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import math
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import quote, urlencode

import urllib3
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2
from minio import Minio
from minio.error import S3Error
from pydantic import BaseModel, Field

from .errors import InvalidArgument, Reason, Unavailable

T = TypeVar("T")

HMAC_KEY_FILE = "objects-hmac.key"
MAX_KEY_BYTES = 512


class ObjectStoreSettings(BaseModel):
    """Where objects live (``MEETMESH_OBJECTS__<FIELD>``); an empty endpoint means a local folder."""

    #: ``host:port`` (or ``http(s)://host:port``) of an S3 API; empty: the local folder below.
    endpoint: str = ""
    #: The S3 access key.
    access_key: str = ""
    #: The S3 secret key. Secret.
    secret_key: str = ""
    #: The S3 region.
    region: str = "us-east-1"
    #: HTTPS to S3.
    secure: bool = False
    #: The bucket (created on first use).
    bucket: str = "meetmesh"
    #: The embedded default's folder, served by the edge.
    local_dir: Path = Path("./var/objects")
    #: Where the edge serves ``local_dir`` (the base of signed URLs).
    public_url: str = "http://127.0.0.1:8800/objects"
    #: Lifetime of presigned and signed URLs.
    url_ttl_s: int = Field(default=900, ge=10, le=7 * 24 * 3600)
    #: How long one call to S3 may take before the caller gets UNAVAILABLE.
    timeout_s: float = Field(default=5.0, gt=0)
    #: What UNAVAILABLE's RetryInfo suggests.
    retry_after_s: float = Field(default=2.0, ge=0)


class ObjectStoreUnavailable(Unavailable):
    """The object store cannot be reached: UNAVAILABLE with a ``RetryInfo``."""

    def __init__(
        self, message: str = "the object store is unavailable; retry later", *, retry_after_s: float = 2.0
    ) -> None:
        super().__init__(message, reason=Reason.ERROR_REASON_DEPENDENCY_UNAVAILABLE)
        self.retry_after_s = retry_after_s

    def details(self) -> list[Any]:
        delay = duration_pb2.Duration(seconds=math.ceil(self.retry_after_s))
        return [*super().details(), error_details_pb2.RetryInfo(retry_delay=delay)]


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    content_type: str


def check_key(key: str, field: str = "key") -> str:
    """``key`` if it is a safe object key; otherwise ``InvalidArgument`` naming ``field``."""
    problem = key_problem(key)
    if problem:
        raise InvalidArgument([(field, problem)])
    return key


def key_problem(key: str) -> str | None:
    """Why ``key`` is not a safe object key, or None."""
    if not key:
        return "must not be empty"
    if len(key.encode()) > MAX_KEY_BYTES:
        return f"must be at most {MAX_KEY_BYTES} bytes"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in key):
        return "must not contain control characters"
    if key.startswith("/") or "\\" in key or (len(key) > 1 and key[1] == ":"):
        return "must be a relative path"
    if any(part in ("", ".", "..") for part in key.split("/")):
        return "must not contain empty, '.' or '..' segments"
    return None


def check_prefix(prefix: str, field: str = "prefix") -> str:
    """A prefix is a key that ends with ``/``."""
    if not prefix.endswith("/"):
        raise InvalidArgument([(field, "must end with '/'")])
    check_key(prefix[:-1], field)
    return prefix


class ObjectStore(Protocol):
    """What services use; both backends implement it."""

    async def put_bytes(self, key: str, data: bytes, content_type: str) -> None: ...

    async def put_file(self, key: str, path: Path, content_type: str) -> None: ...

    async def get_bytes(self, key: str) -> bytes: ...

    async def stat(self, key: str) -> ObjectInfo | None: ...

    async def delete(self, key: str) -> None: ...

    async def list(self, prefix: str) -> list[ObjectInfo]: ...

    async def delete_prefix(self, prefix: str) -> int: ...

    def presign_put(self, key: str, content_type: str, max_bytes: int, user: str = "") -> str: ...

    def presign_get(self, key: str, user: str = "") -> str: ...

    async def ping(self) -> bool: ...


# -- S3 ----------------------------------------------------------------------------------------------
class S3ObjectStore:
    """A bucket through the minio client; blocking calls run in a thread, each bounded in time."""

    def __init__(self, settings: ObjectStoreSettings) -> None:
        endpoint = settings.endpoint.removeprefix("http://").removeprefix("https://").rstrip("/")
        timeout = urllib3.Timeout(connect=min(2.0, settings.timeout_s), read=settings.timeout_s)
        # One immediate retry (a pooled connection the server closed); never a backoff that hangs.
        retries = urllib3.Retry(total=1, backoff_factor=0, redirect=0, status_forcelist=())
        http = urllib3.PoolManager(timeout=timeout, retries=retries, maxsize=16)
        self.client = Minio(
            endpoint,
            access_key=settings.access_key,
            secret_key=settings.secret_key,
            secure=settings.secure or settings.endpoint.startswith("https://"),
            region=settings.region,
            http_client=http,
        )
        self.bucket = settings.bucket
        self.ttl = timedelta(seconds=settings.url_ttl_s)
        self.timeout_s = settings.timeout_s
        self.retry_after_s = settings.retry_after_s
        self._bucket_ready = False

    async def _call(self, func: Callable[[], T]) -> T:
        try:
            return await asyncio.wait_for(asyncio.to_thread(func), self.timeout_s * 2 + 1)
        except S3Error:
            raise
        except (OSError, urllib3.exceptions.HTTPError, TimeoutError) as exc:
            self._bucket_ready = False
            raise ObjectStoreUnavailable(retry_after_s=self.retry_after_s) from exc

    def _ensure_bucket(self) -> None:
        if not self._bucket_ready:
            if not self.client.bucket_exists(self.bucket):
                try:
                    self.client.make_bucket(self.bucket)
                except S3Error as exc:  # created by another instance meanwhile
                    if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                        raise
            self._bucket_ready = True

    async def ensure_bucket(self) -> None:
        await self._call(self._ensure_bucket)

    async def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        check_key(key)

        def put() -> None:
            import io

            self._ensure_bucket()
            self.client.put_object(self.bucket, key, io.BytesIO(data), len(data), content_type=content_type)

        await self._call(put)

    async def put_file(self, key: str, path: Path, content_type: str) -> None:
        check_key(key)

        def put() -> None:
            self._ensure_bucket()
            self.client.fput_object(self.bucket, key, str(path), content_type=content_type)

        await self._call(put)

    async def get_bytes(self, key: str) -> bytes:
        check_key(key)

        def get() -> bytes:
            response = self.client.get_object(self.bucket, key)
            try:
                return bytes(response.read())
            finally:
                response.close()
                response.release_conn()

        return await self._call(get)

    async def stat(self, key: str) -> ObjectInfo | None:
        check_key(key)

        def stat() -> ObjectInfo | None:
            try:
                found = self.client.stat_object(self.bucket, key)
            except S3Error as exc:
                if exc.code in ("NoSuchKey", "NoSuchBucket", "NoSuchObject", "NotFound"):
                    return None
                raise
            return ObjectInfo(key, int(found.size or 0), found.content_type or "")

        return await self._call(stat)

    async def delete(self, key: str) -> None:
        check_key(key)
        await self._call(lambda: self.client.remove_object(self.bucket, key))

    async def list(self, prefix: str) -> list[ObjectInfo]:
        check_prefix(prefix)

        def listing() -> list[ObjectInfo]:
            if not self.client.bucket_exists(self.bucket):
                return []
            return [
                ObjectInfo(str(o.object_name), int(o.size or 0), o.content_type or "")
                for o in self.client.list_objects(self.bucket, prefix=prefix, recursive=True)
            ]

        return await self._call(listing)

    async def delete_prefix(self, prefix: str) -> int:
        found = await self.list(prefix)
        for info in found:
            await self._call(lambda key=info.key: self.client.remove_object(self.bucket, key))  # type: ignore[misc]
        return len(found)

    def presign_put(self, key: str, content_type: str, max_bytes: int, user: str = "") -> str:
        # S3's presigned PUT cannot bound the body: the service checks the object after upload.
        check_key(key)
        return str(self.client.presigned_put_object(self.bucket, key, self.ttl))

    def presign_get(self, key: str, user: str = "") -> str:
        check_key(key)
        return str(self.client.presigned_get_object(self.bucket, key, self.ttl))

    async def ping(self) -> bool:
        try:
            await self._call(lambda: self.client.bucket_exists(self.bucket))
        except (ObjectStoreUnavailable, S3Error):
            return False
        return True


# -- signed URLs for the local folder ----------------------------------------------------------------
def load_or_create_hmac_key(keys_dir: Path) -> bytes:
    """The key local object URLs are signed with (created 0600 on first use, never committed)."""
    path = Path(keys_dir) / HMAC_KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(base64.b64encode(os.urandom(32)))
        try:
            os.link(tmp, path)  # another process won the race: keep theirs
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return base64.b64decode(path.read_bytes())


class SignatureError(Exception):
    """A signed URL is tampered with, expired or presented by someone else (HTTP 403)."""


@dataclass(frozen=True)
class SignedRequest:
    """What a verified URL allows."""

    key: str
    method: str  # "GET" or "PUT"
    user: str
    max_bytes: int
    content_type: str


class UrlSigner:
    """Signs and verifies ``/objects/<key>?...`` URLs (query: m, e, u, n, t, s)."""

    def __init__(self, key: bytes, base_url: str, ttl_s: int) -> None:
        self._key = key
        self.base_url = base_url.rstrip("/")
        self.ttl_s = ttl_s

    def _mac(self, key: str, method: str, expires: int, user: str, max_bytes: int, content_type: str) -> str:
        message = "\n".join((method, key, str(expires), user, str(max_bytes), content_type)).encode()
        digest = hmac.new(self._key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def sign(
        self,
        key: str,
        method: str,
        user: str = "",
        max_bytes: int = 0,
        content_type: str = "",
        now: float | None = None,
    ) -> str:
        check_key(key)
        expires = int((time.time() if now is None else now) + self.ttl_s)
        query = {
            "m": method,
            "e": str(expires),
            "u": user,
            "n": str(max_bytes),
            "t": content_type,
            "s": self._mac(key, method, expires, user, max_bytes, content_type),
        }
        return f"{self.base_url}/{quote(key)}?{urlencode(query)}"

    def verify(self, key: str, method: str, query: dict[str, str], caller: str | None) -> SignedRequest:
        """Check a request for ``key``; ``caller`` is the authenticated user (None: anonymous)."""
        if key_problem(key):
            raise SignatureError("bad key")
        try:
            signed_method = query["m"]
            expires = int(query["e"])
            user = query.get("u", "")
            max_bytes = int(query.get("n", "0"))
            content_type = query.get("t", "")
            given = query["s"]
        except (KeyError, ValueError):
            raise SignatureError("not a signed URL") from None
        wanted = {"GET": "GET", "HEAD": "GET", "PUT": "PUT"}.get(method)
        if wanted != signed_method:
            raise SignatureError("the URL is not signed for this method")
        expected = self._mac(key, signed_method, expires, user, max_bytes, content_type)
        if not hmac.compare_digest(expected, given):
            raise SignatureError("the signature does not match")
        if time.time() > expires:
            raise SignatureError("the URL has expired")
        if user and caller != user:
            raise SignatureError("the URL was issued to another user")
        return SignedRequest(key, signed_method, user, max_bytes, content_type)


class LocalObjectStore:
    """A folder (the embedded default); the edge serves it under URLs signed by ``signer``."""

    def __init__(self, root: Path, signer: UrlSigner) -> None:
        self.root = Path(root)
        self.signer = signer

    def path(self, key: str) -> Path:
        check_key(key)
        return self.root / key

    async def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        target = self.path(key)

        def write() -> None:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            tmp.write_bytes(data)
            tmp.replace(target)

        await asyncio.to_thread(write)

    async def put_file(self, key: str, path: Path, content_type: str) -> None:
        target = self.path(key)

        def copy() -> None:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            shutil.copyfile(path, tmp)
            tmp.replace(target)

        await asyncio.to_thread(copy)

    async def get_bytes(self, key: str) -> bytes:
        return await asyncio.to_thread(self.path(key).read_bytes)

    async def stat(self, key: str) -> ObjectInfo | None:
        target = self.path(key)
        if not target.is_file():
            return None
        return ObjectInfo(key, target.stat().st_size, "")

    async def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    async def list(self, prefix: str) -> list[ObjectInfo]:
        check_prefix(prefix)
        folder = self.root / prefix
        if not folder.is_dir():
            return []
        return [
            ObjectInfo(p.relative_to(self.root).as_posix(), p.stat().st_size, "")
            for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.name.startswith(".")
        ]

    async def delete_prefix(self, prefix: str) -> int:
        found = await self.list(prefix)
        await asyncio.to_thread(shutil.rmtree, self.root / prefix, True)
        return len(found)

    def presign_put(self, key: str, content_type: str, max_bytes: int, user: str = "") -> str:
        return self.signer.sign(key, "PUT", user, max_bytes, content_type)

    def presign_get(self, key: str, user: str = "") -> str:
        return self.signer.sign(key, "GET", user)

    async def ping(self) -> bool:
        return True


def local_signer(settings: ObjectStoreSettings, keys_dir: Path) -> UrlSigner:
    return UrlSigner(load_or_create_hmac_key(keys_dir), settings.public_url, settings.url_ttl_s)


def object_store(settings: ObjectStoreSettings, keys_dir: Path) -> ObjectStore:
    """The store ``settings`` describe: S3 when an endpoint is set, else the local folder."""
    if settings.endpoint:
        return S3ObjectStore(settings)
    return LocalObjectStore(settings.local_dir, local_signer(settings, keys_dir))
