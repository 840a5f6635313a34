"""Edge policies: CORS, JWT checks before the services, rate limits (Redis token buckets), size
limits, access logs without personal data, metrics, the pages the edge serves itself."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from services.edge.config import RateLimit
from tests.edge import grpcweb_client
from tests.edge.conftest import EdgeStack, foreign_token

WHOAMI = "/v1/whoami"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client


async def test_cors_preflight_and_exposed_headers(stack: EdgeStack, http: httpx.AsyncClient) -> None:
    preflight = await http.options(
        stack.url + "/meetmesh.edgetest.v1.EchoService/Echo",
        headers={
            "origin": "https://app.example",
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type,x-grpc-web",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "https://app.example"
    assert "x-grpc-web" in preflight.headers["access-control-allow-headers"]
    reply = await http.post(
        stack.url + "/v1/fail", json={"code": 5}, headers={"origin": "https://app.example"}
    )
    assert reply.headers["access-control-allow-origin"] == "https://app.example"
    exposed = reply.headers["access-control-expose-headers"]
    for name in ("grpc-status", "grpc-message", "grpc-status-details-bin"):
        assert name in exposed


async def test_cors_never_reflects_other_origins(stack: EdgeStack, http: httpx.AsyncClient) -> None:
    for origin in ("https://evil.example", stack.url):
        preflight = await http.options(
            stack.url + "/v1/fail",
            headers={"origin": origin, "access-control-request-method": "POST", "host": "evil.example"},
        )
        assert preflight.status_code == 403
        assert "access-control-allow-origin" not in preflight.headers
        reply = await http.post(stack.url + "/v1/fail", json={}, headers={"origin": origin})
        assert reply.status_code == 200
        assert "access-control-allow-origin" not in reply.headers


async def test_jwt_checked_at_the_edge(stack: EdgeStack, http: httpx.AsyncClient) -> None:
    """The echo service checks no tokens at all, so each 401 here comes from the edge."""
    person = stack.client()
    tokens = stack.platform.runtime.tokens
    expired, _ = tokens.issue_access(user_id=person.user_id, role="member", session_id="s", ttl_s=-60)
    join, _ = tokens.issue_join(
        user_id=person.user_id, meeting_id="m", participant_id="p", meeting_role="host", grants=[], ttl_s=60
    )
    cases = {
        None: "MISSING_CREDENTIALS",
        "Basic abc": "INVALID_TOKEN",
        "Bearer not.a.jwt": "INVALID_TOKEN",
        "Bearer " + foreign_token(): "INVALID_TOKEN",
        "Bearer " + expired: "TOKEN_EXPIRED",
        "Bearer " + join: "INVALID_TOKEN",
    }
    for authorization, reason in cases.items():
        headers = {"authorization": authorization} if authorization else {}
        response = await http.get(stack.url + WHOAMI, headers=headers)
        assert response.status_code == 401, authorization
        assert response.json()["details"][0]["reason"] == reason
        web = await grpcweb_client.call(
            http, stack.url, "/meetmesh.edgetest.v1.EchoService/WhoAmI", b"", headers=headers
        )
        assert web.status == 16
    ok = await http.get(stack.url + WHOAMI, headers=person.metadata)
    assert ok.status_code == 200
    assert ok.json()["authorization"] == person.metadata["authorization"]  # forwarded: services verify too


async def test_rate_limit_per_address(
    stack: EdgeStack, make_edge: Callable[..., str], http: httpx.AsyncClient
) -> None:
    url = make_edge(rate_limit_address=RateLimit(rate=0.5, burst=2))
    assert (await http.post(url + "/v1/fail", json={})).status_code == 200
    assert (await http.post(url + "/v1/fail", json={})).status_code == 200
    limited = await http.post(url + "/v1/fail", json={})
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1
    details = {d["@type"].rsplit(".", 1)[-1]: d for d in limited.json()["details"]}
    assert details["ErrorInfo"]["reason"] == "RATE_LIMITED"
    assert details["RetryInfo"]["retryDelay"].endswith("s")
    web = await grpcweb_client.call(http, url, "/meetmesh.edgetest.v1.EchoService/Fail", b"")
    assert web.status == 8
    assert int(web.headers["retry-after"]) >= 1


async def test_rate_limit_per_token(
    stack: EdgeStack, make_edge: Callable[..., str], http: httpx.AsyncClient
) -> None:
    url = make_edge(rate_limit_token=RateLimit(rate=0.5, burst=1))
    alice, bob = stack.client(), stack.client()
    assert (await http.get(url + WHOAMI, headers=alice.metadata)).status_code == 200
    assert (await http.get(url + WHOAMI, headers=alice.metadata)).status_code == 429
    assert (await http.get(url + WHOAMI, headers=bob.metadata)).status_code == 200


async def test_request_size_limit(stack: EdgeStack, http: httpx.AsyncClient) -> None:
    big = {"note": {"text": "x" * (70 * 1024)}}
    response = await http.post(stack.url + "/v1/rooms/r/echoes", json=big)
    assert response.status_code == 413
    assert response.json()["code"] == 8

    async def body() -> AsyncIterator[bytes]:  # no content-length: the limit applies while reading
        yield b'{"note":{"text":"'
        yield b"x" * 70_000

    chunked = await http.post(stack.url + "/v1/rooms/r/echoes", content=body())
    assert chunked.status_code == 413
    web = await grpcweb_client.call(http, stack.url, "/meetmesh.edgetest.v1.EchoService/Echo", b"x" * 70_000)
    assert web.status == 8


async def _response(reader: asyncio.StreamReader) -> int:
    """One HTTP/1.1 response off the connection; its status."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    lines = head.decode("latin-1").split("\r\n")
    fields = dict(line.lower().split(": ", 1) for line in lines[1:] if ": " in line)
    await asyncio.wait_for(reader.readexactly(int(fields.get("content-length", "0"))), 10)
    return int(lines[0].split()[1])


async def test_a_body_left_unread_by_an_early_answer_is_not_the_next_requests_head(
    stack: EdgeStack,
) -> None:
    """The edge answers 413 from a request's content-length before its body has come. The body
    arriving after that answer still belongs to that request: it was counted against the next
    request's head limit (64 KiB), and the next request on the connection got 431 (CI, 2026-12-04,
    whenever the body came after the answer)."""
    host, port = stack.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        size = 70 * 1024
        writer.write(
            f"POST /v1/rooms/r/echoes HTTP/1.1\r\nhost: edge\r\ncontent-type: application/json\r\n"
            f"content-length: {size}\r\n\r\n".encode()
        )
        assert await _response(reader) == 413
        writer.write(b"x" * size)  # the body, after the answer
        writer.write(f"GET {WHOAMI} HTTP/1.1\r\nhost: edge\r\n\r\n".encode())
        assert await _response(reader) == 401  # no token: the next request was read as one
    finally:
        writer.close()


async def test_access_log_has_no_personal_data(
    stack: EdgeStack, http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    email = "private.person@example.test"
    caplog.set_level(logging.INFO, logger="meetmesh.edge.access")
    await http.post(
        stack.url + "/v1/users:register",
        json={"email": email, "password": "secret password 1", "displayName": "Private Person"},
    )
    await http.get(stack.url + "/v1/users/me", headers={"authorization": "Bearer abc.def.ghi"})
    records = [r for r in caplog.records if r.name == "meetmesh.edge.access"]
    assert any(getattr(r, "rpc", None) == "/meetmesh.user.v1.UserService/Register" for r in records)
    assert {getattr(r, "http_status", None) for r in records} >= {200, 401}
    for record in records:
        text = json.dumps(record.__dict__, default=str)
        for secret in (email, "Private Person", "secret password", "abc.def.ghi", "127.0.0.1"):
            assert secret not in text


async def test_metrics_and_builtin_pages(stack: EdgeStack, http: httpx.AsyncClient) -> None:
    await http.post(stack.url + "/v1/fail", json={"code": 5})
    metrics = (await http.get(stack.url + "/metrics")).text
    assert (
        'edge_requests_total{code="5",protocol="json",rpc="/meetmesh.edgetest.v1.EchoService/Fail"}'
        in metrics
    )
    assert "edge_request_duration_seconds_bucket" in metrics
    assert (await http.get(stack.url + "/healthz")).json() == {"status": "SERVING"}


async def test_openapi_and_reference_page(
    stack: EdgeStack, make_edge: Callable[..., str], tmp_path: Path, http: httpx.AsyncClient
) -> None:
    openapi = REPO / "gen" / "openapi" / "openapi.json"
    url = make_edge(openapi=openapi, docs_root=tmp_path / "not-built")
    document = (await http.get(url + "/openapi.json")).json()
    assert document["openapi"].startswith("3.")
    page = await http.get(url + "/docs")  # without a build of clients/docs: the static page
    assert page.headers["content-type"].startswith("text/html")
    assert "/v1/users/{user}:disable" in page.text
    assert "UserService_DisableUser" in page.text
    assert "&#128274;" not in page.text and "<svg" in page.text  # an inline icon, not an emoji
    built = tmp_path / "docs"
    (built / "vendor").mkdir(parents=True)
    (built / "index.html").write_text("<h1>reference</h1>")
    (built / "vendor" / "ui.js").write_text("let ui")
    (tmp_path / "secret.txt").write_text("outside")
    url = make_edge(openapi=openapi, docs_root=built)
    assert (await http.get(url + "/docs")).text == "<h1>reference</h1>"
    script = await http.get(url + "/docs/vendor/ui.js")
    assert (script.status_code, script.headers["content-type"]) == (200, "text/javascript; charset=utf-8")
    assert (await http.get(url + "/docs/../secret.txt")).status_code == 404
    assert (await http.get(url + "/docs/%2e%2e/secret.txt")).status_code == 404
    assert (await http.get(url + "/docs/missing.js")).status_code == 404
    grpc = await http.get(url + "/docs/grpc")
    assert "meetmesh.media.internal.v1.MediaService" in grpc.text
    missing = make_edge(openapi=tmp_path / "absent.json")
    assert (await http.get(missing + "/openapi.json")).status_code == 404


async def test_static_web_client_at_root(
    stack: EdgeStack, make_edge: Callable[..., str], tmp_path: Path, http: httpx.AsyncClient
) -> None:
    (tmp_path / "index.html").write_text("<h1>meetmesh</h1>")
    (tmp_path / "app.js").write_text("console.log(1)")
    url = make_edge(web_root=tmp_path)
    assert (await http.get(url + "/")).text == "<h1>meetmesh</h1>"
    assert (await http.get(url + "/app.js")).text == "console.log(1)"
    assert (await http.get(url + "/missing.js")).status_code == 404
    # Client-side routes (deep links) load the app; API-looking paths and files do not.
    deep = await http.get(url + "/m/abc-123/summary")
    assert (deep.status_code, deep.text) == (200, "<h1>meetmesh</h1>")
    assert (await http.get(url + "/v1/nope")).status_code in (401, 404)
    assert (await http.get(url + "/v1/whoami")).status_code == 401  # API routes still win


async def test_rate_limit_applies_before_authentication(
    stack: EdgeStack, make_edge: Callable[..., str], http: httpx.AsyncClient
) -> None:
    """Requests with no token, or a bad one, are limited per address like any other (issue 11)."""
    url = make_edge(rate_limit_address=RateLimit(rate=0.5, burst=3))
    statuses = [(await http.get(url + WHOAMI)).status_code for _ in range(3)]
    assert statuses == [401, 401, 401]
    assert (await http.get(url + WHOAMI)).status_code == 429
    bad = {"authorization": "Bearer " + foreign_token()}
    assert (await http.get(url + WHOAMI, headers=bad)).status_code == 429
    web = await grpcweb_client.call(http, url, "/meetmesh.edgetest.v1.EchoService/WhoAmI", b"")
    assert web.status == 8
