"""Avatars against a real S3 (SeaweedFS): a presigned PUT, a commit that decodes the image and
stores thumbnails, presigned GETs; every bad upload is INVALID_ARGUMENT and leaves nothing stored."""

from __future__ import annotations

import httpx
import pytest
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from meetmesh.user.v1 import user_pb2
from tests.images import decode, image_bytes
from tests.support import Client, Platform, field_violations

MIB = 1024 * 1024


async def start_upload(client: Client, content_type: str, size: int) -> user_pb2.CreateAvatarUploadResponse:
    return await client.platform.users.CreateAvatarUpload(
        user_pb2.CreateAvatarUploadRequest(parent="users/me", content_type=content_type, size_bytes=size),
        metadata=client.metadata,
    )


async def put(uri: str, data: bytes, content_type: str) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.put(uri, content=data, headers={"content-type": content_type})


async def commit(client: Client, upload: str) -> user_pb2.User:
    reply = await client.platform.users.CommitAvatar(
        user_pb2.CommitAvatarRequest(name=upload), metadata=client.metadata
    )
    return reply.user


async def stored(platform: Platform, client: Client) -> list[str]:
    return [o.key for o in await platform.runtime.objects.list(f"avatars/{client.user_id}/")]


async def upload_avatar(client: Client, data: bytes, content_type: str = "image/png") -> user_pb2.User:
    started = await start_upload(client, content_type, len(data))
    assert (await put(started.upload_uri, data, content_type)).status_code == 200
    return await commit(client, started.upload)


async def test_an_uploaded_image_becomes_the_avatar_with_thumbnails(s3_platform: Platform) -> None:
    alice = await s3_platform.client("Alice")
    user = await upload_avatar(alice, image_bytes("JPEG", (320, 200)), "image/jpeg")
    async with httpx.AsyncClient() as http:
        large = await http.get(user.avatar_uri)
        small = await http.get(user.avatar_thumbnail_uri)
    assert large.status_code == small.status_code == 200
    assert decode(large.content).size == (256, 256)
    assert decode(small.content).size == (64, 64)
    assert decode(large.content).format == "PNG"
    # The upload itself is gone; only the two thumbnails remain.
    assert sorted(k.rsplit("/", 1)[1] for k in await stored(s3_platform, alice)) == ["256.png", "64.png"]
    # GetUser serves the avatar too.
    again = await s3_platform.users.GetUser(user_pb2.GetUserRequest(name="users/me"), metadata=alice.metadata)
    async with httpx.AsyncClient() as http:
        assert (await http.get(again.user.avatar_uri)).content == large.content


async def test_a_new_avatar_replaces_the_old_one_in_the_store(s3_platform: Platform) -> None:
    bob = await s3_platform.client("Bob")
    first = await upload_avatar(bob, image_bytes("PNG", color=(0, 0, 255)))
    second = await upload_avatar(bob, image_bytes("WEBP", color=(0, 255, 0)), "image/webp")
    keys = await stored(s3_platform, bob)
    assert len(keys) == 2
    assert first.avatar_uri.split("?")[0] != second.avatar_uri.split("?")[0]
    async with httpx.AsyncClient() as http:
        pixel = decode((await http.get(second.avatar_uri)).content).convert("RGB").getpixel((128, 128))
    assert all(abs(a - b) < 8 for a, b in zip(pixel, (0, 255, 0), strict=True))  # WebP is lossy


@pytest.mark.parametrize(
    ("content_type", "size", "field"),
    [
        ("image/png", 5 * MIB + 1, "size_bytes"),
        ("image/png", 0, "size_bytes"),
        ("image/gif", 1000, "content_type"),
        ("text/html", 1000, "content_type"),
    ],
)
async def test_a_declared_upload_over_the_limit_or_of_a_wrong_type_is_refused(
    s3_platform: Platform, content_type: str, size: int, field: str
) -> None:
    carol = await s3_platform.client()
    with pytest.raises(GRPCError) as raised:
        await start_upload(carol, content_type, size)
    assert raised.value.status is Status.INVALID_ARGUMENT
    assert field in field_violations(raised.value)


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"<html>not an image</html>" * 10, "not a readable image"),
        (image_bytes("GIF"), "not a PNG, JPEG or WebP"),
        (image_bytes("PNG")[:200], "not a readable image"),  # truncated
        (image_bytes("BMP"), "not a PNG, JPEG or WebP"),
    ],
)
async def test_an_upload_that_is_not_an_allowed_image_is_removed(
    s3_platform: Platform, data: bytes, why: str
) -> None:
    dave = await s3_platform.client()
    with pytest.raises(GRPCError) as raised:
        await upload_avatar(dave, data)
    assert raised.value.status is Status.INVALID_ARGUMENT
    assert why in field_violations(raised.value)["name"]
    assert await stored(s3_platform, dave) == []
    me = await s3_platform.users.GetUser(user_pb2.GetUserRequest(name="users/me"), metadata=dave.metadata)
    assert me.user.avatar_uri == ""


async def test_an_upload_larger_than_the_limit_is_removed_at_commit(s3_platform: Platform) -> None:
    # S3's presigned PUT cannot bound the body: the commit checks what was really stored.
    erin = await s3_platform.client()
    started = await start_upload(erin, "image/png", 1000)
    assert (await put(started.upload_uri, b"\0" * (5 * MIB + 10), "image/png")).status_code == 200
    with pytest.raises(GRPCError) as raised:
        await commit(erin, started.upload)
    assert raised.value.status is Status.INVALID_ARGUMENT
    assert "larger than" in field_violations(raised.value)["name"]
    assert await stored(s3_platform, erin) == []


async def test_commits_of_missing_or_foreign_uploads_are_refused(s3_platform: Platform) -> None:
    frank = await s3_platform.client()
    grace = await s3_platform.client()
    started = await start_upload(frank, "image/png", 1000)
    with pytest.raises(GRPCError) as raised:
        await commit(frank, started.upload)  # nothing was PUT
    assert raised.value.status is Status.NOT_FOUND
    await put(started.upload_uri, image_bytes(), "image/png")
    with pytest.raises(GRPCError) as raised:
        await commit(grace, started.upload)
    assert raised.value.status is Status.PERMISSION_DENIED
    with pytest.raises(GRPCError) as raised:
        await s3_platform.users.CreateAvatarUpload(
            user_pb2.CreateAvatarUploadRequest(
                parent=frank.user.name, content_type="image/png", size_bytes=10
            ),
            metadata=grace.metadata,
        )
    assert raised.value.status is Status.PERMISSION_DENIED


@pytest.mark.parametrize(
    "name",
    [
        "users/me/avatarUploads/../x",
        "users/me/avatarUploads/%2e%2e",
        "/etc/passwd",
        "users/me/avatarUploads/a\nb",
    ],
)
async def test_upload_names_with_path_tricks_are_invalid_argument(s3_platform: Platform, name: str) -> None:
    henry = await s3_platform.client()
    with pytest.raises(GRPCError) as raised:
        await commit(henry, name)
    assert raised.value.status is Status.INVALID_ARGUMENT


async def test_clearing_the_avatar_removes_its_thumbnails(s3_platform: Platform) -> None:
    ivy = await s3_platform.client()
    await upload_avatar(ivy, image_bytes())
    assert len(await stored(s3_platform, ivy)) == 2
    reply = await s3_platform.users.UpdateUser(
        user_pb2.UpdateUserRequest(
            user=user_pb2.User(name="users/me", avatar_uri=""), update_mask={"paths": ["avatar_uri"]}
        ),
        metadata=ivy.metadata,
    )
    assert reply.user.avatar_uri == "" and reply.user.avatar_thumbnail_uri == ""
    assert await stored(s3_platform, ivy) == []
