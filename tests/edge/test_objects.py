"""The embedded default's objects through the edge: a local folder served under signed, expiring
URLs bound to the user they were issued to. Upload and download an avatar and an attachment over
the edge's JSON API and `/objects/`; expired, tampered or another user's URL -> 403."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest

from services.kit.objects import local_signer
from tests.edge.conftest import EdgeStack
from tests.images import decode, image_bytes
from tests.support import Client


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client


def at_edge(stack: EdgeStack, url: str) -> str:
    """The services sign URLs for the configured public base; this edge listens on a free port."""
    base = stack.platform.settings.objects.public_url
    assert url.startswith(base + "/")
    return stack.url + "/objects/" + url.removeprefix(base + "/")


def bearer(client: Client) -> dict[str, str]:
    return {"authorization": f"Bearer {client.tokens.access_token}"}


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True)) | changes
    return parts._replace(query=urlencode(query)).geturl()


async def start_avatar(
    stack: EdgeStack, http: httpx.AsyncClient, client: Client, size: int
) -> dict[str, str]:
    reply = await http.post(
        stack.url + "/v1/users/me/avatarUploads",
        json={"contentType": "image/png", "sizeBytes": size},
        headers=bearer(client),
    )
    assert reply.status_code == 200, reply.text
    body: dict[str, str] = reply.json()
    return body


async def test_an_avatar_goes_up_and_comes_down_through_signed_urls(
    stack: EdgeStack, http: httpx.AsyncClient
) -> None:
    alice, bob = stack.client(), stack.client()
    data = image_bytes("PNG", (300, 300), (10, 200, 10))
    started = await start_avatar(stack, http, alice, len(data))
    upload = at_edge(stack, started["uploadUri"])
    headers = {**bearer(alice), "content-type": "image/png"}
    # Another user's upload URL, or none at all: 403, nothing written.
    assert (
        await http.put(upload, content=data, headers={**bearer(bob), "content-type": "image/png"})
    ).status_code == 403
    assert (await http.put(upload, content=data, headers={"content-type": "image/png"})).status_code == 403
    # The signed type and size bound the upload.
    assert (
        await http.put(upload, content=data, headers={**bearer(alice), "content-type": "text/html"})
    ).status_code == 400
    assert (await http.put(upload, content=data + b"extra", headers=headers)).status_code == 413
    assert (await http.put(upload, content=data, headers=headers)).status_code == 200

    committed = await http.post(stack.url + f"/v1/{started['upload']}:commit", json={}, headers=bearer(alice))
    assert committed.status_code == 200, committed.text
    avatar = at_edge(stack, committed.json()["user"]["avatarUri"])
    got = await http.get(avatar, headers=bearer(alice))
    assert got.status_code == 200
    assert got.headers["content-type"] == "image/png"
    assert decode(got.content).size == (256, 256)
    assert decode(got.content).convert("RGB").getpixel((128, 128)) == (10, 200, 10)

    # Another user's URL, no token, a changed key, user, expiry or signature, or the wrong method: 403.
    assert (await http.get(avatar, headers=bearer(bob))).status_code == 403
    assert (await http.get(avatar)).status_code == 403
    bob_id = bob.user_id
    assert (await http.get(with_query(avatar, u=bob_id), headers=bearer(bob))).status_code == 403
    assert (await http.get(with_query(avatar, e="9999999999"), headers=bearer(alice))).status_code == 403
    assert (await http.get(with_query(avatar, s="A" * 43), headers=bearer(alice))).status_code == 403
    assert (await http.get(avatar.replace("256.png", "64.png"), headers=bearer(alice))).status_code == 403
    assert (await http.put(avatar, content=b"x", headers=bearer(alice))).status_code == 403
    assert (await http.get(avatar.split("?")[0], headers=bearer(alice))).status_code == 403


async def test_an_expired_signed_url_is_refused(stack: EdgeStack, http: httpx.AsyncClient) -> None:
    carol = stack.client()
    settings = stack.platform.settings
    signer = local_signer(settings.objects, settings.keys_dir)
    key = f"avatars/{carol.user_id}/somewhere/256.png"
    fresh = at_edge(stack, signer.sign(key, "GET", carol.user_id))
    stale = at_edge(stack, signer.sign(key, "GET", carol.user_id, now=0))
    assert (await http.get(fresh, headers=bearer(carol))).status_code == 404  # valid, but no such object
    expired = await http.get(stale, headers=bearer(carol))
    assert expired.status_code == 403
    assert "expired" in expired.text


@pytest.mark.parametrize(
    "path",
    [
        "/objects/..%2F..%2Fetc%2Fpasswd",
        "/objects/a%2F..%2F..%2Fb",
        "/objects/a%00b",
        "/objects/%2Fetc%2Fpasswd",
    ],
)
async def test_object_paths_with_traversal_are_bad_requests(
    stack: EdgeStack, http: httpx.AsyncClient, path: str
) -> None:
    reply = await http.get(stack.url + path + "?m=GET&e=9999999999&u=&n=0&t=&s=x")
    assert reply.status_code == 400


async def test_attachment_urls_work_for_the_participant_they_were_issued_to(
    stack: EdgeStack, http: httpx.AsyncClient
) -> None:
    host, guest = stack.client(), stack.client()
    meeting = stack.run(host.create_meeting())
    stack.run(guest.join(meeting.name))
    body = b"shared notes\n" * 20
    created = await http.post(
        stack.url + f"/v1/{meeting.name}/attachments",
        json={"filename": "notes.txt", "contentType": "text/plain", "sizeBytes": str(len(body))},
        headers=bearer(guest),
    )
    assert created.status_code == 200, created.text
    upload = at_edge(stack, created.json()["uploadUri"])
    put = await http.put(upload, content=body, headers={**bearer(guest), "content-type": "text/plain"})
    assert put.status_code == 200
    name = created.json()["attachment"]["name"]
    assert (
        await http.post(stack.url + f"/v1/{name}:commit", json={}, headers=bearer(guest))
    ).status_code == 200
    listed = await http.get(stack.url + f"/v1/{meeting.name}/attachments", headers=bearer(host))
    url = at_edge(stack, listed.json()["attachments"][0]["downloadUri"])
    assert (await http.get(url, headers=bearer(host))).content == body
    assert (await http.get(url, headers=bearer(guest))).status_code == 403  # issued to the host
