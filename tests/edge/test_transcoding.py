"""JSON/REST transcoding through the edge against the test-only echo service (a real grpclib server):
path templates, query parameters, bodies, response_body, additional bindings, streaming, errors."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from tests.edge.conftest import EdgeStack


@pytest.fixture
async def http(stack: EdgeStack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
        yield client


async def test_body_star_with_path_variable_and_canonical_json(http: httpx.AsyncClient) -> None:
    note = {
        "text": "hi",
        "kind": "KIND_LOUD",
        "big": "9007199254740993",
        "tags": ["a", "b"],
        "at": "2026-01-02T03:04:05.500Z",
        "flag": True,
        "ratio": 0.25,
        "blob": "AP8=",
    }
    response = await http.post("/v1/rooms/r1/echoes", json={"note": note, "repeat": 2, "parent": "ignored"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["parent"] == "rooms/r1"  # the path wins over the body
    assert body["note"] == note  # int64 as a string, enum by name, RFC 3339, base64 bytes
    assert body["repeat"] == 2
    assert response.headers["x-echo-initial"] == "hello"


async def test_proto_field_names_are_accepted_too(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/v1/rooms/r1/echoes", json={"note": {"text": "x"}, "mask": "note.text,repeat"}
    )
    assert response.status_code == 200
    assert response.json()["mask"] == "note.text,repeat"


async def test_additional_get_binding_with_nested_path_field_and_query(http: httpx.AsyncClient) -> None:
    response = await http.get(
        "/v1/rooms/r2/echoes/hello%20world",
        params=[
            ("note.kind", "KIND_PLAIN"),
            ("note.tags", "x"),
            ("note.tags", "y"),
            ("note.flag", "true"),
            ("repeat", "7"),
            ("note.big", "-5"),
        ],
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["parent"] == "rooms/r2"
    assert body["note"] == {
        "text": "hello world",
        "kind": "KIND_PLAIN",
        "tags": ["x", "y"],
        "flag": True,
        "big": "-5",
    }
    assert body["repeat"] == 7


async def test_field_body_binding(http: httpx.AsyncClient) -> None:
    response = await http.put("/v1/rooms/r3/notes?repeat=3", json={"text": "body is the note", "kind": 2})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["note"] == {"text": "body is the note", "kind": "KIND_LOUD"}
    assert body["repeat"] == 3


async def test_response_body_returns_only_that_field(http: httpx.AsyncClient) -> None:
    response = await http.get("/v1/rooms/r4/note", params={"note.text": "just me"})
    assert response.status_code == 200
    assert response.json() == {"text": "just me"}


async def test_server_streaming_is_newline_delimited_json(http: httpx.AsyncClient) -> None:
    async with http.stream("GET", "/v1/rooms/r5:count", params={"count": 4}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/x-ndjson"
        lines = [json.loads(line) async for line in response.aiter_lines() if line]
    assert lines == [{"n": 1}, {"n": 2}, {"n": 3}, {"n": 4}]


async def test_stream_error_after_messages_is_a_last_error_line(http: httpx.AsyncClient) -> None:
    response = await http.get("/v1/rooms/r5:count", params={"count": 5, "failAfter": 2})
    assert response.status_code == 200
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert lines[:2] == [{"n": 1}, {"n": 2}]
    assert lines[2]["error"]["code"] == 10
    assert lines[2]["error"]["message"] == "stopped after 2"


async def test_stream_error_before_messages_is_an_http_error(http: httpx.AsyncClient) -> None:
    response = await http.get("/v1/rooms/r5:count", params={"count": 3, "failAfter": -1})  # fails at once
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"code": 10, "message": "stopped after -1"}
    empty = await http.get("/v1/rooms/r5:count", params={"count": 0})
    assert empty.status_code == 200
    assert empty.text == ""


@pytest.mark.parametrize(
    ("code", "http_status"),
    [
        (3, 400),
        (5, 404),
        (6, 409),
        (7, 403),
        (8, 429),
        (9, 400),
        (10, 409),
        (11, 400),
        (12, 501),
        (13, 500),
        (14, 503),
        (15, 500),
        (16, 401),
        (2, 500),
        (1, 499),
    ],
)
async def test_upstream_errors_map_to_http_with_status_details(
    http: httpx.AsyncClient, code: int, http_status: int
) -> None:
    response = await http.post("/v1/fail", json={"code": code, "message": "nope: ünïcode"})
    assert response.status_code == http_status
    assert response.headers["grpc-status"] == str(code)
    body = response.json()
    assert body["code"] == code
    assert body["message"] == "nope: ünïcode"
    assert body["details"][0]["@type"] == "type.googleapis.com/google.rpc.BadRequest"
    assert body["details"][0]["fieldViolations"][0]["field"] == "code"


async def test_deadline_from_grpc_timeout_header(http: httpx.AsyncClient) -> None:
    response = await http.post("/v1/fail", json={"delayMs": 2000}, headers={"grpc-timeout": "100m"})
    assert response.status_code == 504
    assert response.json()["code"] == 4
    echoed = await http.post("/v1/rooms/r/echoes", json={}, headers={"grpc-timeout": "5S"})
    assert 0 < echoed.json()["timeoutSeconds"] <= 5


async def test_the_default_deadline_is_the_edges_own(make_edge: Callable[..., str]) -> None:
    """A call without `grpc-timeout` gets the edge's default deadline, which the edge keeps to
    itself, as a proxy's route timeout: the service sees no deadline, and past it the edge resets
    the call and answers 504. (A caller's own `grpc-timeout` goes upstream: the test above.)"""
    url = make_edge(default_timeout_s=0.5)
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        echoed = await http.post("/v1/rooms/r/echoes", json={"repeat": 1})
        assert echoed.status_code == 200
        assert echoed.json()["repeat"] == 1 and "timeoutSeconds" not in echoed.json()  # 0: none
        slow = await http.post("/v1/fail", json={"delayMs": 10_000})
        assert slow.status_code == 504
        assert slow.json()["code"] == 4  # DEADLINE_EXCEEDED


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("POST", "/v1/rooms/r1/echoes", {"content": b"{not json"}, 400),
        ("POST", "/v1/rooms/r1/echoes", {"content": b"[1, 2]"}, 400),
        ("POST", "/v1/rooms/r1/echoes", {"json": {"repeat": "many"}}, 400),
        ("POST", "/v1/rooms/r1/echoes", {"json": {"repeat": 2**40}}, 400),
        ("POST", "/v1/rooms/r1/echoes", {"json": {"unknownField": 1}}, 400),
        ("POST", "/v1/rooms/r1/echoes", {"json": {"note": {"kind": "KIND_NOPE"}}}, 400),
        ("POST", "/v1/rooms/r1/echoes", {"json": {"note": {"at": "yesterday"}}}, 400),
        ("POST", "/v1/rooms/r1/echoes", {"json": {"note": "a string"}}, 400),
        ("POST", "/v1/rooms/r1/echoes", {"content": b'{"repeat": 1e999}'}, 400),
        ("POST", "/v1/rooms/r1/echoes", {"content": b'{"note": {"ratio": "fast"}}'}, 400),
        ("POST", "/v1/rooms/r1/echoes", {"content": b"[" * 50_000}, 400),
        (
            "POST",
            "/v1/rooms/r1/echoes",
            {"content": b"<xml/>", "headers": {"content-type": "application/xml"}},
            415,
        ),
        (
            "POST",
            "/v1/rooms/r1/echoes",
            {"content": b"\xff\xfe", "headers": {"content-type": "application/json"}},
            400,
        ),
        ("GET", "/v1/rooms/r2/echoes/x?repeat=abc", {}, 400),
        ("GET", "/v1/rooms/r2/echoes/x?note.flag=maybe", {}, 400),
        ("GET", "/v1/rooms/r2/echoes/x?note.kind=%C2%B2", {}, 400),  # "²" is a digit to str.isdigit
        ("GET", "/v1/rooms/r2/echoes/x?note.kind=99999999999", {}, 400),
        ("GET", "/v1/rooms/r2/echoes/x?note.big=%C2%B2", {}, 400),
        ("GET", "/v1/rooms/r2/echoes/x?note.ratio=abc", {}, 400),
        ("GET", "/v1/rooms/r2/echoes/x?nope=1", {}, 400),
        ("GET", "/v1/rooms/r2/echoes/x?repeat=1&repeat=2", {}, 400),
        ("GET", "/v1/rooms/r2/echoes/x?note=1", {}, 400),
        ("GET", "/v1/rooms/r2/echoes/x?parent=rooms/other", {}, 400),
        ("POST", "/v1/rooms/r1/echoes?repeat=1", {"json": {}}, 400),
        ("GET", "/v1/rooms//echoes", {}, 404),
        ("GET", "/v1/nowhere", {}, 404),
        ("DELETE", "/v1/rooms/r1/echoes", {}, 405),
    ],
)
async def test_bad_input_gets_a_clean_4xx(
    http: httpx.AsyncClient, method: str, path: str, kwargs: dict[str, object], status: int
) -> None:
    response = await http.request(method, path, **kwargs)  # type: ignore[arg-type]
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) <= {"code", "message", "details"}
    assert body["code"] > 0
    assert "Traceback" not in response.text


async def test_a_wildcard_does_not_swallow_the_verb(http: httpx.AsyncClient) -> None:
    """`GET /v1/meetings/0:end` is the `:end` binding with the wrong method (issue 11)."""
    wrong_method = await http.get("/v1/meetings/0:end")
    assert wrong_method.status_code == 405
    assert wrong_method.headers["allow"] == "POST"
    options = await http.options("/v1/meetings/m/participants/p:admit")
    assert options.status_code == 405
    assert options.headers["allow"] == "POST"
    get = await http.options("/v1/meetings/m/participants/p")
    assert get.headers["allow"] == "GET, PATCH"


def test_requests_from_path_variables_alone_match_the_general_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """A call whose request is only path variables is built directly (transcoding._from_variables);
    for every such binding of the platform's contract it makes the same message as the general
    path through json_format, and the other bindings still take the general path."""
    from pathlib import Path

    from services.edge import transcoding
    from services.kit.catalog import load_catalog

    catalog = load_catalog(Path(__file__).resolve().parents[2] / "gen" / "meetmesh.binpb")
    direct, general = 0, 0
    for rpc in catalog.rpcs.values():
        for binding in rpc.bindings:
            variables = {path: f"{path.replace('.', '-')}/ünï code%" for path in binding.template.variables}
            fast = transcoding.build_request(rpc, binding, variables, [], b"")
            with monkeypatch.context() as patched:
                patched.setattr(transcoding, "_from_variables", lambda *_: None)
                slow = transcoding.build_request(rpc, binding, variables, [], b"")
            assert fast == slow, (rpc.path, binding.template.text)
            if not binding.body and transcoding._from_variables(rpc, variables) is not None:
                direct += 1
            else:
                general += 1
    assert direct >= 10 and general >= 10, (direct, general)
