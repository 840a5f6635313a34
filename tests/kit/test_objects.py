"""The kit's object store: key checks, signed URLs and the local folder (pure, no server)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest

from services.kit import InvalidArgument
from services.kit.objects import (
    LocalObjectStore,
    SignatureError,
    UrlSigner,
    check_key,
    check_prefix,
    load_or_create_hmac_key,
)


@pytest.mark.parametrize(
    "key",
    [
        "../etc/passwd",
        "a/../../b",
        "/abs/path",
        "a//b",
        "./a",
        "a/./b",
        "a\\b",
        "C:x",
        "a\x00b",
        "a\nb",
        "a\x7fb",
        "",
    ],
)
def test_unsafe_keys_are_invalid_argument(key: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        check_key(key, "object_key")
    assert raised.value.violations[0][0] == "object_key"


def test_safe_keys_and_prefixes_pass() -> None:
    assert check_key("meetings/m1/attachments/a1") == "meetings/m1/attachments/a1"
    assert check_key("avatars/u/x..y.png") == "avatars/u/x..y.png"  # dots inside a name are fine
    assert check_prefix("meetings/m1/") == "meetings/m1/"
    with pytest.raises(InvalidArgument):
        check_prefix("meetings/m1")
    with pytest.raises(InvalidArgument):
        check_key("x" * 513)


def _query(url: str) -> tuple[str, dict[str, str]]:
    parts = urlsplit(url)
    return parts.path.removeprefix("/objects/"), dict(parse_qsl(parts.query, keep_blank_values=True))


@pytest.fixture
def signer(tmp_path: Path) -> UrlSigner:
    return UrlSigner(load_or_create_hmac_key(tmp_path), "http://edge.test/objects", ttl_s=60)


def test_a_signed_url_verifies_for_its_user_and_method(signer: UrlSigner) -> None:
    key, query = _query(signer.sign("avatars/u1/a.png", "GET", user="u1"))
    allowed = signer.verify(key, "GET", query, caller="u1")
    assert (allowed.key, allowed.method, allowed.user) == ("avatars/u1/a.png", "GET", "u1")
    assert signer.verify(key, "HEAD", query, caller="u1").method == "GET"


def test_another_users_tampered_expired_or_wrong_method_url_is_refused(signer: UrlSigner) -> None:
    key, query = _query(signer.sign("avatars/u1/a.png", "GET", user="u1"))
    with pytest.raises(SignatureError, match="another user"):
        signer.verify(key, "GET", query, caller="u2")
    with pytest.raises(SignatureError, match="another user"):
        signer.verify(key, "GET", query, caller=None)
    with pytest.raises(SignatureError, match="does not match"):
        signer.verify("avatars/u2/a.png", "GET", query, caller="u1")
    with pytest.raises(SignatureError, match="does not match"):
        signer.verify(key, "GET", {**query, "u": "u2"}, caller="u2")
    with pytest.raises(SignatureError, match="does not match"):
        signer.verify(key, "GET", {**query, "e": str(int(query["e"]) + 3600)}, caller="u1")
    with pytest.raises(SignatureError, match="method"):
        signer.verify(key, "PUT", query, caller="u1")
    with pytest.raises(SignatureError, match="not a signed URL"):
        signer.verify(key, "GET", {}, caller="u1")
    old_key, old = _query(signer.sign("avatars/u1/a.png", "GET", user="u1", now=0))
    with pytest.raises(SignatureError, match="expired"):
        signer.verify(old_key, "GET", old, caller="u1")


def test_an_upload_url_binds_its_size_limit_and_type(signer: UrlSigner) -> None:
    key, query = _query(signer.sign("k/upload", "PUT", user="u1", max_bytes=100, content_type="image/png"))
    allowed = signer.verify(key, "PUT", query, caller="u1")
    assert (allowed.max_bytes, allowed.content_type) == (100, "image/png")
    with pytest.raises(SignatureError):
        signer.verify(key, "PUT", {**query, "n": "1000000"}, caller="u1")
    with pytest.raises(SignatureError):
        signer.verify(key, "PUT", {**query, "t": "text/html"}, caller="u1")


def test_the_hmac_key_is_created_once_and_private(tmp_path: Path) -> None:
    first = load_or_create_hmac_key(tmp_path)
    assert load_or_create_hmac_key(tmp_path) == first
    assert len(first) == 32
    assert (tmp_path / "objects-hmac.key").stat().st_mode & 0o077 == 0


async def test_the_local_store_puts_lists_and_deletes_by_prefix(tmp_path: Path, signer: UrlSigner) -> None:
    store = LocalObjectStore(tmp_path / "objects", signer)
    await store.put_bytes("meetings/m1/attachments/a", b"one", "text/plain")
    await store.put_bytes("meetings/m1/attachments/b", b"two!", "text/plain")
    await store.put_bytes("meetings/m2/attachments/c", b"three", "text/plain")
    assert await store.get_bytes("meetings/m1/attachments/b") == b"two!"
    assert [(o.key, o.size) for o in await store.list("meetings/m1/")] == [
        ("meetings/m1/attachments/a", 3),
        ("meetings/m1/attachments/b", 4),
    ]
    assert await store.delete_prefix("meetings/m1/") == 2
    assert await store.stat("meetings/m1/attachments/a") is None
    assert (await store.stat("meetings/m2/attachments/c")) is not None
    with pytest.raises(InvalidArgument):
        await store.put_bytes("../outside", b"x", "text/plain")
    assert not (tmp_path / "outside").exists()
