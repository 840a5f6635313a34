"""The kit's S3 object store against SeaweedFS (started by the project, see tests/s3.py)."""

from __future__ import annotations

import uuid

import httpx
import pytest

from services.kit import InvalidArgument
from services.kit.objects import ObjectStoreSettings, S3ObjectStore
from tests.support import wait_until


@pytest.fixture
def store(s3_settings: ObjectStoreSettings) -> S3ObjectStore:
    return S3ObjectStore(s3_settings)


@pytest.fixture
def prefix() -> str:
    return f"kit-test/{uuid.uuid4().hex}/"


async def test_put_get_stat_list_and_delete_by_prefix(store: S3ObjectStore, prefix: str) -> None:
    await store.put_bytes(f"{prefix}a.txt", b"alpha", "text/plain")
    await store.put_bytes(f"{prefix}sub/b.bin", b"\0" * 3000, "application/octet-stream")
    assert await store.get_bytes(f"{prefix}a.txt") == b"alpha"
    info = await store.stat(f"{prefix}sub/b.bin")
    assert info is not None and (info.size, info.content_type) == (3000, "application/octet-stream")
    assert await store.stat(f"{prefix}missing") is None
    assert sorted((o.key, o.size) for o in await store.list(prefix)) == [
        (f"{prefix}a.txt", 5),
        (f"{prefix}sub/b.bin", 3000),
    ]
    assert await store.delete_prefix(prefix) == 2
    assert await store.list(prefix) == []


@pytest.mark.parametrize("key", ["../x", "/abs", "a/../b", "a\x01b", "a//b"])
async def test_unsafe_keys_never_reach_s3(store: S3ObjectStore, key: str) -> None:
    with pytest.raises(InvalidArgument):
        await store.put_bytes(key, b"x", "text/plain")
    with pytest.raises(InvalidArgument):
        store.presign_get(key)


async def test_presigned_put_and_get_work_and_a_tampered_url_is_refused(
    store: S3ObjectStore, prefix: str
) -> None:
    key = f"{prefix}upload.bin"
    data = bytes(range(256)) * 40
    async with httpx.AsyncClient() as http:
        put = await http.put(store.presign_put(key, "application/octet-stream", len(data)), content=data)
        assert put.status_code == 200
        url = store.presign_get(key)
        assert (await http.get(url)).content == data
        tampered = url.replace(key, f"{prefix}other.bin")
        assert (await http.get(tampered)).status_code == 403
        bad_signature = url[:-4] + ("0000" if not url.endswith("0000") else "1111")
        assert (await http.get(bad_signature)).status_code == 403
        unsigned = url.split("?")[0]
        assert (await http.get(unsigned)).status_code == 403


async def test_an_expired_presigned_url_is_refused(s3_settings: ObjectStoreSettings, prefix: str) -> None:
    # A URL's signing time has whole seconds, so a lifetime of N seconds leaves between N-1 and N:
    # 3 s keeps the first request inside it even on a loaded machine (1 s left 0-1 s, and failed).
    short = S3ObjectStore(s3_settings.model_copy(update={"url_ttl_s": 3}))
    key = f"{prefix}short.txt"
    await short.put_bytes(key, b"soon gone", "text/plain")
    url = short.presign_get(key)
    async with httpx.AsyncClient() as http:
        assert (await http.get(url)).status_code == 200

        async def expired() -> bool:
            return (await http.get(url)).status_code == 403

        await wait_until(expired, within_s=15, every_s=0.25)
        assert (await http.get(url)).status_code == 403  # and stays refused
