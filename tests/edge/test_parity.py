"""The same calls over native gRPC, gRPC-web (the real connect-node client) and JSON give identical
results and identical errors, against the real user and meeting services behind the edge."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import httpx
from google.protobuf import json_format
from grpclib.client import Channel
from grpclib.exceptions import GRPCError

from meetmesh.meeting.v1 import meeting_grpc, meeting_pb2
from meetmesh.user.v1 import user_grpc, user_pb2
from services.kit.catalog import HttpBinding, Rpc
from tests.edge.conftest import EdgeStack, foreign_token

REPO = Path(__file__).resolve().parents[2]
NODE_CLIENT = Path(__file__).parent / "node" / "grpcweb_calls.ts"
MODULES = {
    "meetmesh.user.v1.UserService": ("user", user_pb2, user_grpc.UserServiceStub),
    "meetmesh.meeting.v1.MeetingService": ("meeting", meeting_pb2, meeting_grpc.MeetingServiceStub),
}
Call = dict[str, Any]


async def native(stack: EdgeStack, call: Call) -> dict[str, Any]:
    """The call straight to the service over HTTP/2 gRPC (grpclib and the generated stubs)."""
    service, pb2, stub_type = MODULES[call["service"]]
    host, _, port = stack.address(service).rpartition(":")
    rpc = stack.edge.catalog.rpcs[f"/{call['service']}/{call['method']}"]
    request = json_format.ParseDict(call["request"], getattr(pb2, rpc.input.name)())
    channel = Channel(host, int(port))
    try:
        reply = await getattr(stub_type(channel), call["method"])(request, metadata=call.get("headers"))
        return {"ok": True, "responses": [json_format.MessageToDict(reply)]}
    except GRPCError as exc:
        details = [type(d).DESCRIPTOR.full_name for d in exc.details or []]
        return {"ok": False, "code": exc.status.value, "message": exc.message, "details": details}
    finally:
        channel.close()


def _lookup(request: dict[str, Any], path: str) -> Any:
    node: Any = request
    for part in path.split("."):
        node = node[part]
    return node


def http_request(rpc: Rpc, binding: HttpBinding, request: dict[str, Any]) -> tuple[str, Any, dict[str, Any]]:
    """URL path, JSON body and query for a call under one binding (path fields come out of the rest)."""
    rest = json.loads(json.dumps(request))

    def substitute(match: re.Match[str]) -> str:
        field_path = match.group(1)
        value = _lookup(request, field_path)
        parent = rest
        parts = field_path.split(".")
        for part in parts[:-1]:
            parent = parent[part]
        parent.pop(parts[-1])
        return str(value)

    path = re.sub(r"\{([A-Za-z0-9_.]+)(?:=[^}]*)?\}", substitute, binding.template.text)
    if binding.body == "*":
        return path, rest, {}
    if binding.body:
        return path, rest.pop(binding.body, {}), rest
    return path, None, rest


async def over_json(stack: EdgeStack, http: httpx.AsyncClient, call: Call) -> dict[str, Any]:
    rpc = stack.edge.catalog.rpcs[f"/{call['service']}/{call['method']}"]
    binding = rpc.bindings[0]
    path, body, query = http_request(rpc, binding, call["request"])
    response = await http.request(
        binding.http_method,
        stack.url + path,
        params=query,
        json=body if binding.body else None,
        headers=call.get("headers"),
    )
    payload = response.json()
    if response.status_code == 200:
        return {"ok": True, "responses": [payload]}
    assert int(response.headers["grpc-status"]) == payload["code"]
    details = [d["@type"].rsplit("/", 1)[-1] for d in payload.get("details", [])]
    return {"ok": False, "code": payload["code"], "message": payload["message"], "details": details}


def over_grpc_web(
    stack: EdgeStack, calls: list[Call], descriptor_set: Path | None = None
) -> list[dict[str, Any]]:
    """All calls through connect-node's gRPC-web transport, in one Node process."""
    request: dict[str, Any] = {"baseUrl": stack.url, "calls": calls}
    if descriptor_set is not None:
        request["descriptorSet"] = str(descriptor_set)
    done = subprocess.run(
        [str(REPO / "node_modules" / ".bin" / "tsx"), str(NODE_CLIENT)],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=REPO,
    )
    results: list[dict[str, Any]] = json.loads(done.stdout)
    return results


def scenario(stack: EdgeStack) -> list[Call]:
    alice, bob = stack.client(), stack.client()
    meeting = stack.run(alice.create_meeting(title="Parity"))
    user, room = "meetmesh.user.v1.UserService", "meetmesh.meeting.v1.MeetingService"
    as_alice, as_bob = alice.metadata, bob.metadata
    return [
        {"service": user, "method": "GetUser", "request": {"name": "users/me"}, "headers": as_alice},
        {"service": user, "method": "GetUser", "request": {"name": "users/me"}},
        {
            "service": user,
            "method": "GetUser",
            "request": {"name": "users/me"},
            "headers": {"authorization": "Bearer " + foreign_token()},
        },
        {"service": user, "method": "GetUser", "request": {"name": bob.user.name}, "headers": as_alice},
        {"service": user, "method": "GetUser", "request": {"name": "users/NOT-valid"}, "headers": as_alice},
        {
            "service": user,
            "method": "Register",
            "request": {"email": "not-an-email", "password": "long enough password", "displayName": "X"},
        },
        {
            "service": user,
            "method": "Register",
            "request": {"email": alice.email, "password": "long enough password", "displayName": "X"},
        },
        {"service": user, "method": "Login", "request": {"email": alice.email, "password": "wrong password"}},
        {"service": user, "method": "ListUsers", "request": {"pageSize": 5}, "headers": as_alice},
        {"service": room, "method": "GetMeeting", "request": {"name": meeting.name}, "headers": as_alice},
        {"service": room, "method": "GetMeeting", "request": {"name": meeting.name}, "headers": as_bob},
        {"service": room, "method": "ListMeetings", "request": {"pageSize": 10}, "headers": as_alice},
        {
            "service": room,
            "method": "ListParticipants",
            "request": {"parent": meeting.name},
            "headers": as_alice,
        },
        {"service": room, "method": "LeaveMeeting", "request": {"name": meeting.name}, "headers": as_bob},
        {
            "service": room,
            "method": "UpdateMeeting",
            "headers": as_alice,
            "request": {"meeting": {"name": meeting.name, "capacity": 5000}, "updateMask": "capacity"},
        },
    ]


async def test_native_grpc_web_and_json_agree(stack: EdgeStack) -> None:
    calls = scenario(stack)
    direct = [await native(stack, call) for call in calls]
    async with httpx.AsyncClient(timeout=30) as http:
        transcoded = [await over_json(stack, http, call) for call in calls]
    grpc_web = over_grpc_web(stack, calls)
    for call, a, b, c in zip(calls, direct, grpc_web, transcoded, strict=True):
        label = f"{call['method']} {call['request']}"
        assert b == a, f"gRPC-web differs from native gRPC for {label}"
        assert c == a, f"JSON differs from native gRPC for {label}"
    codes = [r.get("code", 0) for r in direct]
    # The scenario covers success and the common failures (not a vacuous comparison).
    assert {0, 3, 5, 6, 7, 16} <= set(codes), codes


def test_connect_node_streams_metadata_details_and_deadlines(stack: EdgeStack) -> None:
    """connect-node's gRPC-web transport against the echo service (described from its descriptors)."""
    echo = "meetmesh.edgetest.v1.EchoService"
    calls: list[Call] = [
        {"service": echo, "method": "Count", "request": {"count": 3}},
        {"service": echo, "method": "Count", "request": {"count": 5, "failAfter": 2}},
        {
            "service": echo,
            "method": "Echo",
            "request": {"parent": "rooms/n", "note": {"big": "-9007199254740993"}},
            "headers": {"x-custom": "node"},
        },
        {"service": echo, "method": "Fail", "request": {"code": 9, "message": "not now"}},
        {"service": echo, "method": "Fail", "request": {"delayMs": 3000}, "timeoutMs": 100},
    ]
    results = over_grpc_web(stack, calls, descriptor_set=stack.edge.options.descriptor_set)
    assert results[0] == {"ok": True, "responses": [{"n": 1}, {"n": 2}, {"n": 3}]}
    assert results[1]["code"] == 10
    assert results[1]["message"] == "stopped after 2"
    echoed = results[2]["responses"][0]
    assert echoed["note"] == {"big": "-9007199254740993"}
    assert echoed["metadata"]["x-custom"] == "node"
    assert results[3] == {"ok": False, "code": 9, "message": "not now", "details": ["google.rpc.BadRequest"]}
    assert results[4]["code"] == 4
