"""Tracing end to end: a JSON JoinMeeting through the edge makes one trace in a real Jaeger (v2,
the project's Go tool) whose spans cover edge -> meeting -> stores, correctly parented; the
request's log lines reach VictoriaLogs (Loki push API) and come back by the same trace id."""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from meetmesh.meeting.v1 import meeting_pb2
from services.edge import server as edge_server
from services.edge.config import EdgeOptions, EdgeSettings
from services.kit import tracing
from services.kit.logs import push_handler
from services.kit.tracing import TracingSettings
from services.stack.observability import JaegerServer, VictoriaLogsServer
from services.stack.servers import free_port
from tests.rtc_helpers import real_platform
from tests.support import Platform, squatting, wait_until


@pytest.fixture(scope="module")
def jaeger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JaegerServer]:
    server = JaegerServer(tmp_path_factory.mktemp("jaeger"))
    server.start()
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture(scope="module")
def victorialogs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VictoriaLogsServer]:
    server = VictoriaLogsServer(tmp_path_factory.mktemp("victorialogs"))
    server.start()
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture
async def traced_platform(
    jaeger: JaegerServer, victorialogs: VictoriaLogsServer, run_id: str, keys_dir: Path
) -> AsyncIterator[tuple[Platform, str]]:
    """User and meeting services (PostgreSQL, Redis) and the edge, every span sampled and sent to
    Jaeger, every log line also pushed to VictoriaLogs; yields the platform and the edge's URL."""
    tracing.configure(TracingSettings(endpoint=jaeger.otlp_endpoint, sample_ratio=1.0))
    pusher = push_handler(f"{victorialogs.loki_push_url}?_msg_field=msg", {"app": "meetmesh-test"})
    root = logging.getLogger()
    root.addHandler(pusher)
    level = logging.getLogger("meetmesh").level
    logging.getLogger("meetmesh").setLevel(logging.INFO)
    platform = await real_platform(run_id, keys_dir)
    port = free_port()
    settings = EdgeSettings(
        **platform.settings.model_dump(exclude={"edge"}),
        edge=EdgeOptions(
            port=port, jwks_url=f"http://127.0.0.1:{platform.hosts['user'].http_port}/.well-known/jwks.json"
        ),
    )
    edge, task = await edge_server.start(settings)
    try:
        yield platform, f"http://127.0.0.1:{port}"
    finally:
        await edge_server.stop(edge, task)
        await platform.close()
        root.removeHandler(pusher)
        pusher.close()
        logging.getLogger("meetmesh").setLevel(level)
        tracing.configure(TracingSettings())  # off again for the rest of the session


def by_id(trace: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {span["spanID"]: span for span in trace["spans"]}


def parent(span: dict[str, Any]) -> str | None:
    refs = [r["spanID"] for r in span.get("references", []) if r["refType"] == "CHILD_OF"]
    return refs[0] if refs else None


def tags(span: dict[str, Any]) -> dict[str, Any]:
    return {t["key"]: t["value"] for t in span.get("tags", [])}


def ancestors(span: dict[str, Any], spans: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    found = []
    current = parent(span)
    while current is not None and current in spans:
        found.append(spans[current])
        current = parent(spans[current])
    return found


async def test_join_through_the_edge_is_one_trace_with_its_logs(
    traced_platform: tuple[Platform, str], jaeger: JaegerServer, victorialogs: VictoriaLogsServer
) -> None:
    platform, edge_url = traced_platform
    host = await platform.client("Host")
    meeting = await host.create_meeting(title="Traced")
    guest = await platform.client("Guest")
    trace_id = secrets.token_hex(16)
    async with httpx.AsyncClient(base_url=edge_url, timeout=30) as http:
        joined = await http.post(
            f"/v1/{meeting.name}:join",
            json={},
            headers={
                "authorization": f"Bearer {guest.tokens.access_token}",
                # the caller's own trace: the edge continues it
                "traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01",
            },
        )
    assert joined.status_code == 200, joined.text
    tracing.flush()

    found: dict[str, Any] = {}

    async def in_jaeger() -> bool:
        trace = jaeger.trace(trace_id)
        services = {p["serviceName"] for p in (trace or {}).get("processes", {}).values()}
        if trace is not None and {"edge", "meeting"} <= services:
            found.update(trace)
            return True
        return False

    await wait_until(in_jaeger, within_s=20, every_s=0.25)
    spans = by_id(found)
    service_of = {pid: p["serviceName"] for pid, p in found["processes"].items()}

    def named(service: str, kind: str) -> list[dict[str, Any]]:
        return [
            s
            for s in spans.values()
            if service_of[s["processID"]] == service and tags(s).get("span.kind") == kind
        ]

    # edge: the HTTP request (server) and its call upstream (client), named after the RPC
    rpc = "meetmesh.meeting.v1.MeetingService/JoinMeeting"
    [edge_in] = named("edge", "server")
    assert rpc in edge_in["operationName"]
    assert 200 in (tags(edge_in).get("http.response.status_code"), tags(edge_in).get("http.status_code"))
    [edge_out] = [s for s in named("edge", "client") if s["operationName"] == rpc]
    assert parent(edge_out) == edge_in["spanID"]
    # meeting: the RPC, child of the edge's call, with the RPC semantic conventions
    [served] = [s for s in named("meeting", "server") if s["operationName"] == rpc]
    assert parent(served) == edge_out["spanID"]
    assert tags(served)["rpc.system"] == "grpc"
    assert tags(served)["rpc.service"] == "meetmesh.meeting.v1.MeetingService"
    assert tags(served)["rpc.method"] == "JoinMeeting"
    assert tags(served)["rpc.grpc.status_code"] == 0
    # stores: database and Redis spans below the meeting's RPC
    below = [s for s in spans.values() if served in ancestors(s, spans)]
    systems = {tags(s).get("db.system") or tags(s).get("db.system.name") for s in below}
    assert "postgresql" in systems, sorted(s["operationName"] for s in below)
    assert "redis" in systems, sorted(s["operationName"] for s in below)
    # SQLAlchemy's spans too (the user service's store): under the Login RPC the test made
    logins = [
        t
        for t in jaeger.traces("user", operation="meetmesh.user.v1.UserService/Login")
        if any(
            tags(span).get("db.system") == "postgresql"
            and t["processes"][span["processID"]]["serviceName"] == "user"
            for span in t["spans"]
        )
    ]
    assert logins, "no SQLAlchemy span under UserService/Login"
    # one trace: every span hangs off the edge's request (the caller's span is its parent)
    assert all(s is edge_in or edge_in in ancestors(s, spans) for s in spans.values())

    # logs: the request's lines, by trace id, in VictoriaLogs (and no personal data in them)
    for handler in logging.getLogger().handlers:
        handler.flush()
    lines: list[dict[str, Any]] = []

    async def logged() -> bool:
        lines[:] = victorialogs.query(f"trace_id:{trace_id}")
        return any(line.get("logger") == "meetmesh.edge.access" for line in lines)

    try:
        await wait_until(logged, within_s=20, every_s=0.25)
    except TimeoutError:
        raise AssertionError(
            f"no access line with trace_id {trace_id}: {victorialogs.query('*')[-5:]}"
        ) from None
    access = next(line for line in lines if line.get("logger") == "meetmesh.edge.access")
    assert access["rpc"] == f"/{rpc}"
    assert access["span_id"] in spans
    assert all(guest.email not in str(line) for line in lines)


async def test_the_sampling_decision_is_the_callers_and_costs_no_spans_when_negative(
    traced_platform: tuple[Platform, str], jaeger: JaegerServer
) -> None:
    """At ratio 1.0: a caller's "not sampled" (traceparent flags 00) is followed by the edge and the
    meeting service (no span of either reaches Jaeger), a call without traceparent starts a trace of
    its own, and the services' background loops (outbox relay, stream consumers, channel followers)
    start none: every trace's root is an RPC or HTTP server span, never a bare SQL or Redis call."""
    platform, edge_url = traced_platform
    host = await platform.client("Host")
    meeting = await host.create_meeting(title="Sampling")
    guest = await platform.client("Guest")
    unsampled, sampled = secrets.token_hex(16), secrets.token_hex(16)
    async with httpx.AsyncClient(base_url=edge_url, timeout=30) as http:
        for trace_id, flags in ((unsampled, "00"), (sampled, "01")):
            joined = await http.post(
                f"/v1/{meeting.name}:join",
                json={},
                headers={
                    "authorization": f"Bearer {guest.tokens.access_token}",
                    "traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-{flags}",
                },
            )
            assert joined.status_code == 200, joined.text
    # a direct call with no trace to continue: the meeting service's own decision (ratio 1.0)
    got = await platform.meetings.GetMeeting(
        meeting_pb2.GetMeetingRequest(name=meeting.name), metadata=host.metadata
    )
    assert got.meeting.name == meeting.name
    tracing.flush()

    async def exported() -> bool:
        trace = jaeger.trace(sampled)
        services = {p["serviceName"] for p in (trace or {}).get("processes", {}).values()}
        own = jaeger.traces("meeting", operation="meetmesh.meeting.v1.MeetingService/GetMeeting")
        return {"edge", "meeting"} <= services and bool(own)

    await wait_until(exported, within_s=20, every_s=0.25)
    # flushed before the sampled one was: had any span of the unsampled call been made, it is there
    assert jaeger.trace(unsampled) is None
    for service in ("meeting", "user"):
        for trace in jaeger.traces(service):
            spans = by_id(trace)
            roots = [s for s in spans.values() if parent(s) not in spans]
            kinds = {tags(s).get("span.kind") for s in roots}
            assert kinds == {"server"}, (service, [(s["operationName"], tags(s)) for s in roots])


def test_a_port_taken_between_picking_and_binding_starts_jaeger_on_new_ones(tmp_path: Path) -> None:
    """Free ports are only free when picked: a CI run once lost the tracing tests to Jaeger's OTLP
    port, taken (by an outgoing connection's ephemeral port) before Jaeger bound it. Jaeger then
    starts again on new ports."""
    server = JaegerServer(tmp_path)
    taken = server.otlp_port
    with squatting(taken):
        try:
            server.start()
            assert server.running and server.otlp_port != taken
            assert server.is_ready() and f":{server.otlp_port}" in server.otlp_endpoint
            assert "address already in use" not in server.log_tail(50)  # the failed try's log is gone
        finally:
            server.remove()
