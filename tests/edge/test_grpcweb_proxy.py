"""gRPC-web through the edge (binary and text), against the test-only echo service: metadata,
trailers, deadlines, status details, server streaming, and malformed requests."""

from __future__ import annotations

import base64
import struct
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from google.rpc import error_details_pb2, status_pb2

from tests.edge import grpcweb_client
from tests.edge.conftest import EdgeStack

ECHO = "/meetmesh.edgetest.v1.EchoService/"


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client


def _pb() -> object:
    from meetmesh.edgetest.v1 import echo_pb2

    return echo_pb2


@pytest.mark.parametrize("text", [False, True])
async def test_unary_with_metadata_and_trailers(
    stack: EdgeStack, http: httpx.AsyncClient, text: bool
) -> None:
    pb = _pb()
    request = pb.EchoRequest(parent="rooms/a", note=pb.Note(text="hé", big=-(2**62)))  # type: ignore[attr-defined]
    reply = await grpcweb_client.call(
        http,
        stack.url,
        ECHO + "Echo",
        request.SerializeToString(),
        text=text,
        headers={
            "x-custom": "yes",
            "trace-bin": base64.b64encode(b"\x01\x02").decode(),
            "grpc-timeout": "3S",
        },
    )
    assert reply.http_status == 200
    assert reply.headers["content-type"] == (
        "application/grpc-web-text+proto" if text else "application/grpc-web+proto"
    )
    assert reply.status == 0
    assert reply.headers["x-echo-initial"] == "hello"
    assert base64.b64decode(reply.headers["x-echo-bin"] + "==") == b"\x00\xff"
    assert reply.trailers["x-echo-trailing"] == "bye"
    (message,) = reply.messages
    echoed = pb.EchoResponse.FromString(message)  # type: ignore[attr-defined]
    assert echoed.note == request.note
    assert echoed.metadata["x-custom"] == "yes"
    assert echoed.metadata["trace-bin"] == "0102"
    assert "content-type" not in echoed.metadata
    assert "x-grpc-web" not in echoed.metadata
    assert 0 < echoed.timeout_seconds <= 3


@pytest.mark.parametrize("text", [False, True])
async def test_server_streaming(stack: EdgeStack, http: httpx.AsyncClient, text: bool) -> None:
    pb = _pb()
    request = pb.CountRequest(count=5, fail_after=3)  # type: ignore[attr-defined]
    reply = await grpcweb_client.call(http, stack.url, ECHO + "Count", request.SerializeToString(), text=text)
    assert [pb.CountResponse.FromString(m).n for m in reply.messages] == [1, 2, 3]  # type: ignore[attr-defined]
    assert reply.status == 10
    assert reply.message == "stopped after 3"


async def test_error_details_pass_through_unchanged(stack: EdgeStack, http: httpx.AsyncClient) -> None:
    pb = _pb()
    request = pb.FailRequest(code=9, message="not now")  # type: ignore[attr-defined]
    reply = await grpcweb_client.call(http, stack.url, ECHO + "Fail", request.SerializeToString())
    assert reply.http_status == 200  # trailers-only
    assert reply.messages == []
    assert reply.trailers == {}
    assert reply.status == 9
    assert reply.message == "not now"
    raw = reply.headers["grpc-status-details-bin"]
    status = status_pb2.Status.FromString(base64.b64decode(raw + "=" * (-len(raw) % 4)))
    assert status.code == 9
    bad = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad)
    assert bad.field_violations[0].description == "not now"


async def test_deadline_exceeded(stack: EdgeStack, http: httpx.AsyncClient) -> None:
    pb = _pb()
    request = pb.FailRequest(delay_ms=3000)  # type: ignore[attr-defined]
    reply = await grpcweb_client.call(
        http, stack.url, ECHO + "Fail", request.SerializeToString(), headers={"grpc-timeout": "50m"}
    )
    assert reply.status == 4


async def test_the_default_deadline_is_the_edges_own(make_edge: Callable[..., str]) -> None:
    """A unary call without `grpc-timeout` gets the edge's default deadline, kept by the edge (the
    service sees none; json_proxy's calls alike): past it the call ends DEADLINE_EXCEEDED."""
    pb = _pb()
    url = make_edge(default_timeout_s=0.5)
    async with httpx.AsyncClient(timeout=30) as client:
        echoed = await grpcweb_client.call(
            client,
            url,
            ECHO + "Echo",
            pb.EchoRequest(repeat=1).SerializeToString(),  # type: ignore[attr-defined]
        )
        assert echoed.status == 0
        reply = pb.EchoResponse.FromString(echoed.messages[0])  # type: ignore[attr-defined]
        assert reply.repeat == 1 and reply.timeout_seconds == 0  # no deadline upstream
        slow = await grpcweb_client.call(
            client,
            url,
            ECHO + "Fail",
            pb.FailRequest(delay_ms=10_000).SerializeToString(),  # type: ignore[attr-defined]
        )
        assert slow.status == 4


def _frame_header(flags: int, length: int) -> bytes:
    return struct.pack(">BI", flags, length)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"\x00\x00", 3),  # truncated header
        (_frame_header(0, 10) + b"abc", 3),  # truncated payload
        (_frame_header(0, 10**9), 8),  # oversized message
        (_frame_header(1, 1) + b"x", 12),  # compressed flag without an encoding
        (_frame_header(0x80, 0), 3),  # trailers in a request
        (b"", 3),  # no message
        (grpcweb_client.frame(b"") * 2, 3),  # two messages to a unary method
        (grpcweb_client.frame(b"\xff\xff\xff"), 3),  # not the method's request message
    ],
)
async def test_malformed_frames_get_a_grpc_status(
    stack: EdgeStack, http: httpx.AsyncClient, body: bytes, code: int
) -> None:
    reply = await grpcweb_client.call(http, stack.url, ECHO + "Echo", b"", raw_body=body)
    assert reply.http_status == 200
    assert reply.status == code


@pytest.mark.parametrize("body", [b"!!!!", b"AAAA=AAA", "é".encode()])
async def test_bad_base64_in_text_mode(stack: EdgeStack, http: httpx.AsyncClient, body: bytes) -> None:
    reply = await grpcweb_client.call(
        http, stack.url, ECHO + "Echo", b"", raw_body=body, content_type="application/grpc-web-text"
    )
    assert reply.status == 3


async def test_text_mode_accepts_several_padded_chunks(stack: EdgeStack, http: httpx.AsyncClient) -> None:
    framed = grpcweb_client.frame(_pb().EchoRequest(parent="rooms/z").SerializeToString())  # type: ignore[attr-defined]
    body = base64.b64encode(framed[:4]) + base64.b64encode(framed[4:])
    reply = await grpcweb_client.call(
        http, stack.url, ECHO + "Echo", b"", raw_body=body, content_type="application/grpc-web-text+proto"
    )
    assert reply.status == 0


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/meetmesh.edgetest.v1.EchoService/Nope", 12),
        ("/meetmesh.media.internal.v1.MediaService/Negotiate", 12),  # internal: never routed
        ("/grpc.health.v1.Health/Check", 12),
        ("/not-a-method", 12),
    ],
)
async def test_unknown_and_internal_methods_are_unimplemented(
    stack: EdgeStack, http: httpx.AsyncClient, path: str, code: int
) -> None:
    reply = await grpcweb_client.call(http, stack.url, path, b"")
    assert reply.http_status == 200
    assert reply.status == code


async def test_wrong_content_type_and_method(stack: EdgeStack, http: httpx.AsyncClient) -> None:
    reply = await grpcweb_client.call(
        http, stack.url, ECHO + "Echo", b"", content_type="application/grpc-web+json"
    )
    assert reply.http_status == 415
    native = await http.post(
        stack.url + ECHO + "Echo", content=b"", headers={"content-type": "application/grpc"}
    )
    assert native.status_code == 415
    get = await http.get(stack.url + ECHO + "Echo", headers={"content-type": "application/grpc-web"})
    assert get.status_code == 405


async def test_bad_timeout_and_metadata(stack: EdgeStack, http: httpx.AsyncClient) -> None:
    body = grpcweb_client.frame(b"")
    reply = await grpcweb_client.call(
        http, stack.url, ECHO + "Echo", b"", raw_body=body, headers={"grpc-timeout": "soon"}
    )
    assert reply.status == 3
    reply = await grpcweb_client.call(
        http, stack.url, ECHO + "Echo", b"", raw_body=body, headers={"x-bad-bin": "%%%"}
    )
    assert reply.status == 3
