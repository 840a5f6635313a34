"""The object store recordings go to: S3 (MinIO in production, moto in tests) or a local folder."""

from __future__ import annotations

import asyncio
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Protocol

from minio import Minio

from services.kit.validation import object_key_problem

from .config import MediaSettings


class ObjectStore(Protocol):
    async def put_file(self, key: str, path: Path, content_type: str) -> None: ...

    async def download_url(self, key: str) -> str: ...


class S3Store:
    """An S3 bucket through the minio client (blocking calls run in a thread)."""

    def __init__(self, settings: MediaSettings) -> None:
        endpoint = settings.s3_endpoint.removeprefix("http://").removeprefix("https://")
        self._client = Minio(
            endpoint,
            access_key=settings.s3_access_key,
            secret_key=settings.s3_secret_key,
            secure=settings.s3_secure,
            region=settings.s3_region,
        )
        self._bucket = settings.s3_bucket
        self._ttl = timedelta(seconds=settings.download_url_ttl_s)
        self._bucket_ready = False

    def _ensure_bucket(self) -> None:
        if not self._bucket_ready:
            if not self._client.bucket_exists(self._bucket):
                self._client.make_bucket(self._bucket)
            self._bucket_ready = True

    def _put(self, key: str, path: Path, content_type: str) -> None:
        self._ensure_bucket()
        self._client.fput_object(self._bucket, key, str(path), content_type=content_type)

    async def put_file(self, key: str, path: Path, content_type: str) -> None:
        await asyncio.to_thread(self._put, key, path, content_type)

    async def download_url(self, key: str) -> str:
        return await asyncio.to_thread(self._client.presigned_get_object, self._bucket, key, self._ttl)


class LocalStore:
    """A folder (embedded mode); the edge serves it and checks the signature."""

    def __init__(self, root: Path, base_url: str) -> None:
        self._root = root
        self._base_url = base_url.rstrip("/")

    async def put_file(self, key: str, path: Path, content_type: str) -> None:
        problem = object_key_problem(key)
        if problem is not None:
            raise ValueError(f"unsafe object key: {problem}")
        target = self._root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(shutil.copyfile, path, target)

    async def download_url(self, key: str) -> str:
        return f"{self._base_url}/{key}"


def object_store(settings: MediaSettings) -> ObjectStore:
    if settings.s3_endpoint:
        return S3Store(settings)
    return LocalStore(settings.local_recordings_dir, settings.local_recordings_url)
