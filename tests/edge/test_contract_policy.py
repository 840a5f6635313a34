"""Policy lives in the contract: an RPC added at test time, with options and no code about it
anywhere, is admitted, routed, documented, redacted and refused exactly as its options say.

The proto below is compiled when the test runs; its service is served by the kit (real grpclib over
real TCP, the platform's real keys) behind a real edge built from `gen/meetmesh.binpb` plus it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from grpclib.client import Channel
from grpclib.const import Status
from grpclib.exceptions import GRPCError
from grpclib.server import Stream

from services.edge.app import Edge
from services.edge.reference import render_reference
from services.kit import Endpoint, ServiceHost, ServiceSpec, current_policy, current_principal
from services.kit.catalog import load_catalog
from services.kit.logs import JsonFormatter, RedactingFilter
from tests.edge import grpcweb_client
from tests.edge.conftest import EdgeStack, edge_settings
from tests.edge.harness import compile_proto, merge_descriptor_sets, start_uvicorn, stop_uvicorn
from tools.gen_envoy import build_envoy, default_endpoint
from tools.gen_openapi import build_openapi

PROTO = """
syntax = "proto3";

package meetmesh.policytest.v1;

import "google/api/annotations.proto";
import "meetmesh/options/v1/options.proto";

service PolicyTestService {
  // Anyone may call.
  rpc Open(PolicyRequest) returns (PolicyResponse) {
    option (meetmesh.options.v1.access) = {caller: CALLER_ANONYMOUS};
    option (google.api.http) = {post: "/v1/policytest:open" body: "*"};
  }
  // Signed-in users.
  rpc Mine(PolicyRequest) returns (PolicyResponse) {
    option (meetmesh.options.v1.access) = {caller: CALLER_USER};
    option (google.api.http) = {get: "/v1/policytest/mine"};
  }
  // Admins only.
  rpc Admin(PolicyRequest) returns (PolicyResponse) {
    option (meetmesh.options.v1.access) = {caller: CALLER_ADMIN};
    option (google.api.http) = {get: "/v1/policytest:admin"};
  }
  // Participants holding the moderate grant.
  rpc Moderate(PolicyRequest) returns (PolicyResponse) {
    option (meetmesh.options.v1.access) = {caller: CALLER_PARTICIPANT grant: "moderate"};
    option (google.api.http) = {post: "/v1/{meeting=meetings/*}/policytest:moderate" body: "*"};
  }
  // Media only; the HTTP binding must not make the edge route it.
  rpc Internal(PolicyRequest) returns (PolicyResponse) {
    option (meetmesh.options.v1.access) = {caller: CALLER_SERVICE services: "media"};
    option (google.api.http) = {post: "/v1/policytest:internal" body: "*"};
  }
}

message PolicyRequest {
  string meeting = 1;
  string note = 2;
  string display_name = 3 [(meetmesh.options.v1.sensitivity) = SENSITIVITY_PERSONAL];
  string secret = 4 [(meetmesh.options.v1.sensitivity) = SENSITIVITY_SECRET];
}

message PolicyResponse {
  string caller = 1;
  string grant = 2;
  string note = 3;
}
"""
SERVICE = "/meetmesh.policytest.v1.PolicyTestService/"


@dataclass
class PolicyStack:
    stack: EdgeStack
    url: str
    grpc_port: int
    descriptors: Path
    pb2: Any
    grpc: Any

    def native(self, method: str, request: Any, metadata: dict[str, str]) -> Any:
        async def call() -> Any:
            channel = Channel("127.0.0.1", self.grpc_port)
            try:
                stub = self.grpc.PolicyTestServiceStub(channel)
                return await getattr(stub, method)(request, metadata=metadata)
            finally:
                channel.close()

        return self.stack.run(call())


@pytest.fixture(scope="module")
def policy_stack(stack: EdgeStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PolicyStack]:
    root = tmp_path_factory.mktemp("policytest")
    source = root / "protos" / "meetmesh" / "policytest" / "v1" / "policy.proto"
    source.parent.mkdir(parents=True)
    source.write_text(PROTO)
    out = root / "gen"
    compiled = compile_proto(out, root / "protos", "meetmesh/policytest/v1/policy.proto")
    from meetmesh.policytest.v1 import policy_grpc, policy_pb2  # type: ignore[import-not-found]

    class PolicyTestService(policy_grpc.PolicyTestServiceBase):  # type: ignore[misc]
        async def _reply(self, stream: Stream[Any, Any]) -> None:
            request = await stream.recv_message()
            assert request is not None
            try:
                principal = current_principal()
                caller = principal.service or principal.user_id
            except Exception:
                caller = ""
            await stream.send_message(
                policy_pb2.PolicyResponse(caller=caller, grant=current_policy().grant, note=request.note)
            )

        Open = Mine = Admin = Moderate = Internal = _reply

    async def start_host() -> ServiceHost:  # on the stack's loop: grpclib binds a server to its loop
        host = ServiceHost(
            ServiceSpec(name="policytest", handlers=[PolicyTestService()]),
            stack.platform.runtime.tokens,
            shutdown_grace_s=1.0,
        )
        await host.start()
        return host

    host = stack.run(start_host())
    merged = root / "merged.binpb"
    merged.write_bytes(
        merge_descriptor_sets(Path("gen/meetmesh.binpb").resolve(), compiled).SerializeToString()
    )
    settings = edge_settings(stack.platform, merged, upstreams={"policytest": f"127.0.0.1:{host.grpc_port}"})
    server, port = stack.run(start_uvicorn(Edge(settings)))
    yield PolicyStack(stack, f"http://127.0.0.1:{port}", host.grpc_port, merged, policy_pb2, policy_grpc)
    stack.run(stop_uvicorn(server))
    stack.run(host.stop())


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client


def _bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


async def test_admitted_and_routed_by_the_edge_as_the_options_say(
    policy_stack: PolicyStack, http: httpx.AsyncClient
) -> None:
    url, tokens = policy_stack.url, policy_stack.stack.platform.runtime.tokens
    member = policy_stack.stack.client()
    admin, _ = tokens.issue_access(user_id="root1", role="admin", session_id="s-admin", ttl_s=60)

    opened = await http.post(url + "/v1/policytest:open", json={"note": "hi"})
    assert opened.status_code == 200 and opened.json() == {"note": "hi"}  # anonymous: no caller

    assert (await http.get(url + "/v1/policytest/mine")).status_code == 401
    mine = await http.get(url + "/v1/policytest/mine", headers=member.metadata)
    assert mine.status_code == 200 and mine.json()["caller"] == member.user_id

    refused = await http.get(url + "/v1/policytest:admin", headers=member.metadata)
    assert refused.status_code == 403  # the edge lets the token through; the service checks the role
    assert refused.json()["details"][0]["reason"] == "PERMISSION_DENIED"
    allowed = await http.get(url + "/v1/policytest:admin", headers=_bearer(admin))
    assert allowed.status_code == 200 and allowed.json()["caller"] == "root1"

    moderated = await http.post(url + "/v1/meetings/m1/policytest:moderate", json={}, headers=member.metadata)
    assert moderated.status_code == 200 and moderated.json()["grant"] == "moderate"  # read by the handler

    media, _ = tokens.issue_service("media")
    for headers in ({}, member.metadata, _bearer(media)):
        hidden = await http.post(url + "/v1/policytest:internal", json={}, headers=headers)
        assert hidden.status_code == 404  # never routed, whatever the credential
        web = await grpcweb_client.call(http, url, SERVICE + "Internal", b"", headers=headers)
        assert web.status == Status.UNIMPLEMENTED.value
    web_open = await grpcweb_client.call(
        http, url, SERVICE + "Open", policy_stack.pb2.PolicyRequest(note="web").SerializeToString()
    )
    assert web_open.status == 0


def test_refused_by_the_service_itself_as_the_options_say(policy_stack: PolicyStack) -> None:
    tokens = policy_stack.stack.platform.runtime.tokens
    member = policy_stack.stack.client()
    request = policy_stack.pb2.PolicyRequest(note="n")
    expectations: list[tuple[str, dict[str, str], Status | str]] = [
        ("Open", {}, ""),
        ("Mine", {}, Status.UNAUTHENTICATED),
        ("Mine", member.metadata, member.user_id),
        ("Mine", _bearer(tokens.issue_service("media")[0]), Status.PERMISSION_DENIED),
        ("Admin", member.metadata, Status.PERMISSION_DENIED),
        ("Internal", {}, Status.UNAUTHENTICATED),
        ("Internal", member.metadata, Status.PERMISSION_DENIED),
        ("Internal", _bearer(tokens.issue_service("signaling")[0]), Status.PERMISSION_DENIED),
        ("Internal", _bearer(tokens.issue_service("media")[0]), "media"),
    ]
    for method, metadata, expected in expectations:
        try:
            outcome: Status | str = policy_stack.native(method, request, metadata).caller
        except GRPCError as exc:
            outcome = exc.status
        assert outcome == expected, (method, metadata.keys(), outcome)


def test_documented_as_the_options_say(policy_stack: PolicyStack) -> None:
    document = build_openapi(policy_stack.descriptors)
    paths = document["paths"]
    assert "/v1/policytest:internal" not in paths
    opened = paths["/v1/policytest:open"]["post"]
    assert "security" not in opened and opened["x-meetmesh-access"] == {"caller": "anonymous"}
    assert paths["/v1/policytest/mine"]["get"]["security"] == [{"bearerAuth": []}]
    assert paths["/v1/policytest:admin"]["get"]["x-meetmesh-access"] == {"caller": "admin"}
    moderate = paths["/v1/meetings/{meeting}/policytest:moderate"]["post"]
    assert moderate["x-meetmesh-access"] == {"caller": "participant", "grant": "moderate"}

    page = render_reference(json.dumps(document).encode()).decode()
    assert "/v1/policytest:admin" in page and "admins only" in page
    assert "holding the <code>moderate</code> grant" in page
    assert "policytest:internal" not in page

    def endpoint_of(service: str) -> Endpoint:  # the port table, plus a port for the test's service
        return Endpoint(grpc_port=9999, http_port=0) if service == "policytest" else default_endpoint(service)

    config = build_envoy(load_catalog(policy_stack.descriptors), lambda s: s, endpoint_of)
    envoy = yaml.safe_load(yaml.safe_dump(config))
    routes = envoy["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    route_names = {r.get("name") for r in routes["route_config"]["virtual_hosts"][0]["routes"]}
    assert SERVICE + "Open" in route_names and SERVICE + "Internal" not in route_names
    jwt_rules = {
        r["match"]["path"]: r
        for f in routes["http_filters"]
        if f["name"] == "envoy.filters.http.jwt_authn"
        for r in f["typed_config"]["rules"]
        if "path" in r["match"]
    }
    assert "requires" not in jwt_rules[SERVICE + "Open"]
    assert "requires" in jwt_rules[SERVICE + "Mine"] and "requires" in jwt_rules[SERVICE + "Moderate"]


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.addFilter(RedactingFilter())
        self.setFormatter(JsonFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def test_redacted_in_logs_as_the_options_say(policy_stack: PolicyStack) -> None:
    """Request messages are logged at DEBUG; personal and secret fields by their options."""
    logger = logging.getLogger("meetmesh.kit.requests")
    capture, level = _Capture(), logger.level
    logger.addHandler(capture)
    logger.setLevel(logging.DEBUG)
    try:
        request = policy_stack.pb2.PolicyRequest(
            note="an ordinary note", display_name="Ada Lovelace", secret="hunter2-swordfish"
        )
        assert policy_stack.native("Open", request, {}).note == "an ordinary note"
    finally:
        logger.removeHandler(capture)
        logger.setLevel(level)
    [line] = [line for line in capture.lines if SERVICE + "Open" in line]
    entry = json.loads(line)
    assert json.loads(entry["request"]) == {
        "note": "an ordinary note",
        "display_name": "[personal]",
        "secret": "[secret]",
    }
    assert "Ada" not in line and "hunter2" not in line
