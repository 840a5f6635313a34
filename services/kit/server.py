"""Service bootstrap: a gRPC server with health, reflection, auth, validation, error mapping and
metrics attached once, plus an HTTP side port for ``/metrics``, ``/healthz`` and service routes.

The gRPC port is served by the kit's own server (``grpc_server.py``: grpclib's handlers and stream
API on the kit's HTTP/2 connection) or, with ``MEETMESH_GRPC_SERVER=grpclib``, by grpclib's. Either
way the cross-cutting concerns attach once: ``_wrap`` swaps the method function for one that admits
the caller by the method's ``(meetmesh.options.v1.access)`` option (see ``policy.py``), records
metrics and maps errors; ``_message`` validates every request message with protovalidate (and
logs it, redacted by the fields' sensitivity, at DEBUG). On grpclib's server they run from its
``RecvRequest``, ``RecvMessage`` and ``SendMessage`` events. Handlers only do their own work.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import uvicorn
from google.protobuf.message import DecodeError
from grpclib.const import Cardinality
from grpclib.encoding.proto import ProtoCodec, ProtoStatusDetailsCodec
from grpclib.events import RecvMessage, RecvRequest, SendMessage, listen
from grpclib.exceptions import GRPCError, StreamTerminatedError
from grpclib.health.check import ServiceCheck, ServiceStatus
from grpclib.health.service import OVERALL, Health
from grpclib.reflection.service import ServerReflection
from grpclib.server import Stream
from h2.exceptions import StreamClosedError
from prometheus_client import ProcessCollector
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from . import context as ctx
from . import policy as pol
from . import tracing
from .auth import Principal, TokenService, bearer_token, reset_principal, set_principal
from .errors import (
    Internal,
    InvalidArgument,
    MeetmeshError,
    PermissionDenied,
    Reason,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
    outage,
    to_grpc_error,
)
from .grpc_server import GrpcServer
from .h2writes import CoalescingServer
from .telemetry import ServerMetrics, Telemetry
from .validation import validate

log = logging.getLogger("meetmesh.kit.server")
_requests_log = logging.getLogger("meetmesh.kit.requests")
# gRPC health re-runs the readiness checks at most this often (watchers see changes this fast).
_READINESS_TTL_S = 1.0
_READINESS_TIMEOUT_S = 2.0
# The longest one shutdown step (the side port, one on_stop hook) may take before it is abandoned.
_STOP_STEP_LIMIT_S = 60.0

Hook = Callable[[], Awaitable[None]]
RevocationCheck = Callable[[Principal], Awaitable[bool]]
_labels: contextvars.ContextVar[tuple[str, str, str] | None] = contextvars.ContextVar("labels", default=None)
_policy: contextvars.ContextVar[pol.MethodPolicy | None] = contextvars.ContextVar("policy", default=None)


def current_policy() -> pol.MethodPolicy:
    """The contract's access policy of the RPC being served (e.g. the grant it needs)."""
    policy = _policy.get()
    if policy is None:
        raise Internal("no RPC is being served")
    return policy


_CARDINALITY = {
    Cardinality.UNARY_UNARY: "unary",
    Cardinality.UNARY_STREAM: "server_stream",
    Cardinality.STREAM_UNARY: "client_stream",
    Cardinality.STREAM_STREAM: "bidi_stream",
}


class BoundedProtoCodec(ProtoCodec):
    """grpclib's protobuf codec, refusing oversized and undecodable request messages."""

    def __init__(self, max_message_bytes: int) -> None:
        self.max_message_bytes = max_message_bytes

    def refuse(self, size: int) -> GRPCError:
        """The error for a request message of ``size`` bytes, over the limit."""
        return to_grpc_error(
            ResourceExhausted(
                f"the message is {size} bytes; the limit is {self.max_message_bytes}",
                retry_after_s=0,
                reason=Reason.ERROR_REASON_PAYLOAD_TOO_LARGE,
            )
        )

    def decode(self, data: bytes, message_type: Any) -> Any:
        if len(data) > self.max_message_bytes:
            raise self.refuse(len(data))
        try:
            return super().decode(data, message_type)
        except DecodeError:
            raise to_grpc_error(InvalidArgument([], "the message is not valid protobuf")) from None


@dataclass
class ServiceSpec:
    """What a service contributes; the host does the rest."""

    name: str
    # Who may call each method comes from the contract (`meetmesh.options.v1.access`), not from here.
    handlers: Sequence[Any]
    http_routes: Sequence[BaseRoute] = ()
    on_start: Sequence[Hook] = ()
    on_stop: Sequence[Hook] = ()
    # Run when stopping begins, before the gRPC server closes (e.g. tell stream clients to go).
    on_drain: Sequence[Hook] = ()
    # Readiness checks for /healthz (e.g. a database ping); any failure makes it 503.
    readiness: Sequence[Hook] = ()
    # Whether an access token's session has been revoked (logout, disabled account).
    is_revoked: RevocationCheck | None = None
    # The service's own Prometheus collectors (domain metrics), exposed on /metrics beside the RPC
    # metrics: prometheus_client metrics made with ``registry=None``, or custom collectors.
    collectors: Sequence[Any] = ()


class ServiceHost:
    """Runs one service: gRPC port + HTTP side port, graceful shutdown."""

    def __init__(
        self,
        spec: ServiceSpec,
        tokens: TokenService | None,
        *,
        host: str = "127.0.0.1",
        grpc_port: int = 0,
        http_port: int = 0,
        shutdown_grace_s: float = 10.0,
        max_message_bytes: int = 4 * 1024 * 1024,
        trusted_proxies: Sequence[str] = (),
        reuse_port: bool = False,
        grpc_server: str = "kit",
    ) -> None:
        self.spec = spec
        # SO_REUSEPORT on both ports: several worker processes of one service share them and the
        # kernel spreads new connections across the workers (``meetmesh serve --workers N``).
        self.reuse_port = reuse_port
        self.tokens = tokens
        self.host = host
        self._grpc_port_wanted = grpc_port
        self._http_port_wanted = http_port
        self.grpc_port = 0
        self.http_port = 0
        self.shutdown_grace_s = shutdown_grace_s
        self.trusted_proxies = ctx.parse_networks(trusted_proxies)
        self.telemetry = Telemetry()
        self.metrics = ServerMetrics(self.telemetry)
        # process_cpu_seconds_total, process_resident_memory_bytes, ...: the SFU CPU alert and the
        # per-service dashboard read them.
        ProcessCollector(registry=self.telemetry.registry)
        for collector in spec.collectors:
            self.telemetry.registry.register(collector)
        # None while tracing is off (MEETMESH_TRACING__ENDPOINT unset): no span work per call.
        self._tracer = tracing.tracer(spec.name)
        self._status = ServiceStatus()
        # gRPC health answers what /healthz answers: serving, and every readiness check passes.
        self._readiness = ServiceCheck(
            self.ready, check_ttl=_READINESS_TTL_S, check_timeout=_READINESS_TIMEOUT_S + 1
        )
        checks = [self._status, self._readiness]
        handlers = list(spec.handlers)
        self.health = Health({OVERALL: checks, **{h: checks for h in handlers}})
        self._serving = False
        self._cardinality = {
            path: _CARDINALITY[method.cardinality]
            for h in handlers
            for path, method in h.__mapping__().items()
        }
        # Read once from the descriptors the handlers' generated modules registered.
        self.policies = {path: pol.policy_for_path(path) for path in self._cardinality}
        served = ServerReflection.extend([*handlers, self.health])
        codec = BoundedProtoCodec(max_message_bytes)
        self.server: GrpcServer | CoalescingServer
        if grpc_server == "kit":
            self.server = GrpcServer(
                served,
                codec=codec,
                status_details_codec=ProtoStatusDetailsCodec(),
                wrap=self._wrap,
                on_message=self._message,
                on_send=self._sent,
                max_message_bytes=max_message_bytes,
                refuse_oversized=codec.refuse,
            )
        elif grpc_server == "grpclib":
            self.server = CoalescingServer(
                served, codec=codec, status_details_codec=ProtoStatusDetailsCodec()
            )
            listen(self.server, RecvRequest, self._on_request)
            listen(self.server, RecvMessage, self._on_message)
            listen(self.server, SendMessage, self._on_send)
        else:
            raise ValueError(f"unknown gRPC server {grpc_server!r}: 'kit' or 'grpclib'")
        self._http: uvicorn.Server | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        for hook in self.spec.on_start:
            await hook()
        await self.server.start(
            self.host, self._grpc_port_wanted, reuse_address=True, reuse_port=self.reuse_port or None
        )
        listener: Any = self.server._server  # asyncio's or uvloop's Server
        self.grpc_port = listener.sockets[0].getsockname()[1]
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if self.reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((self.host, self._http_port_wanted))
        sock.listen(128)
        sock.setblocking(False)
        self.http_port = sock.getsockname()[1]
        # log_config=None: uvicorn's own logging set-up (dictConfig) would close meetmesh's handlers
        config = uvicorn.Config(
            self._http_app(), log_level="warning", lifespan="off", access_log=False, log_config=None
        )
        config.load()
        self._http = uvicorn.Server(config)
        # Server.serve() would also own signals and a main loop; the host owns both, so start the
        # listener the way serve() does and nothing more.
        self._http.lifespan = config.lifespan_class(config)
        await self._http.startup(sockets=[sock])
        self._serving = True
        self._status.set(True)
        log.info(
            "service started",
            extra={"service": self.spec.name, "grpc_port": self.grpc_port, "http_port": self.http_port},
        )

    async def stop(self) -> None:
        """Stop taking calls, let in-flight ones finish (up to the grace period), then close."""
        if not self._serving:
            return
        self._serving = False
        self._status.set(False)
        for hook in self.spec.on_drain:
            await hook()
        self.server.close()
        try:
            await asyncio.wait_for(self.server.wait_closed(), self.shutdown_grace_s)
        except TimeoutError:
            log.warning("shutdown grace period ended with calls in flight", extra={"service": self.spec.name})
            if isinstance(self.server, GrpcServer):
                await self._bounded(self.server.cancel_calls(), "cancelling the calls in flight")
        if isinstance(self.server, GrpcServer):
            self.server.close_connections()
        if self._http is not None:
            self._http.should_exit = True
            await self._bounded(self._http.shutdown(), "the HTTP side port")
        for hook in self.spec.on_stop:
            await self._bounded(hook(), getattr(hook, "__qualname__", "a stop hook"))
        log.info("service stopped", extra={"service": self.spec.name})

    async def _bounded(self, step: Awaitable[object], what: str) -> None:
        """One shutdown step, given ``_STOP_STEP_LIMIT_S`` at most: a step that hangs (a background
        task that does not end when cancelled) is abandoned with a warning, so a stop always ends.
        The limit is generous and apart from the grace period for calls: steps such as finishing a
        recording's upload or stopping Triton legitimately take seconds."""
        try:
            await asyncio.wait_for(step, _STOP_STEP_LIMIT_S)
        except TimeoutError:
            log.warning("shutdown step did not end in time", extra={"service": self.spec.name, "step": what})

    # -- readiness -----------------------------------------------------------------------------
    async def ready(self) -> bool:
        """Whether the service takes calls and every readiness check passes (for /healthz and
        gRPC health alike)."""
        if not self._serving:
            return False
        for check in self.spec.readiness:
            try:
                await asyncio.wait_for(check(), _READINESS_TIMEOUT_S)
            except Exception:
                return False
        return True

    # -- HTTP side port ------------------------------------------------------------------------
    def _http_app(self) -> Starlette:
        async def healthz(_: Request) -> Response:
            if not self._serving:
                return JSONResponse({"status": "stopping", "service": self.spec.name}, status_code=503)
            if not await self.ready():
                return JSONResponse({"status": "unavailable", "service": self.spec.name}, status_code=503)
            return JSONResponse({"status": "ok", "service": self.spec.name, "pid": os.getpid()})

        async def metrics(_: Request) -> Response:
            return Response(self.telemetry.exposition(), media_type=self.telemetry.content_type)

        routes: list[BaseRoute] = [
            Route("/healthz", healthz),
            Route("/metrics", metrics),
            *self.spec.http_routes,
        ]
        return Starlette(routes=routes)

    # -- the method wrapper --------------------------------------------------------------------
    def _policy(self, method: str) -> pol.MethodPolicy:
        policy = self.policies.get(method)
        return policy if policy is not None else pol.policy_for_path(method)

    async def _admit(self, policy: pol.MethodPolicy, metadata: Any) -> Principal | None:
        """The caller, admitted as the method's contract says (raises UNAUTHENTICATED or
        PERMISSION_DENIED otherwise)."""
        if policy.caller == pol.UNSPECIFIED:
            raise PermissionDenied("this method declares no access policy; nobody may call it")
        if policy.anonymous or (policy.caller == pol.PARTICIPANT and policy.join_token_in_stream):
            return None  # a join token in the stream is the handler's to check
        token = bearer_token(metadata)
        if token is None:
            raise Unauthenticated(
                "this call needs a bearer token", reason=Reason.ERROR_REASON_MISSING_CREDENTIALS
            )
        if self.tokens is None:
            raise Unavailable("token verification is not configured")
        if policy.internal:
            return self._admit_service(policy, token)
        if self.tokens.is_service_token(token):
            self.tokens.verify_service(token)  # a forged one is no credential at all
            raise PermissionDenied("a service credential is not a user's; this method is for users")
        principal = self.tokens.verify_access(token)
        if self.spec.is_revoked is not None and await self.spec.is_revoked(principal):
            raise Unauthenticated("the session has ended", reason=Reason.ERROR_REASON_INVALID_TOKEN)
        if policy.caller == pol.ADMIN and not principal.is_admin:
            raise PermissionDenied("this method is for admins")
        return principal

    def _admit_service(self, policy: pol.MethodPolicy, token: str) -> Principal:
        assert self.tokens is not None
        if not self.tokens.is_service_token(token):
            # A valid user credential is the wrong kind here; anything else is no credential.
            try:
                self.tokens.verify_access(token)
            except Unauthenticated:
                self.tokens.verify_join(token)
            raise PermissionDenied("this method is internal: only meetmesh services may call it")
        principal = self.tokens.verify_service(token)
        if policy.services and principal.service not in policy.services:
            raise PermissionDenied(f"the {principal.service} service may not call this method")
        return principal

    async def _on_request(self, event: RecvRequest) -> None:
        peer = event.peer.addr()
        peer_host = str(peer[0]) if peer else ""
        event.method_func = self._wrap(
            event.method_name, event.metadata, peer_host, event.deadline, event.method_func
        )

    def _wrap(self, method_name: str, metadata: Any, peer_host: str, deadline: Any, original: Any) -> Any:
        """The function that serves one call of ``method_name``: ``original`` with the caller
        admitted, metrics, tracing and errors mapped around it."""
        policy = self._policy(method_name)
        service, _, method = method_name[1:].partition("/")
        labels = (self._cardinality.get(method_name, "unary"), service, method)
        raw_forwarded = metadata.get("x-forwarded-for") if metadata else None
        forwarded = raw_forwarded if isinstance(raw_forwarded, str) else None
        children = self.metrics.method(labels)
        tracer = self._tracer

        async def traced(stream: Stream[Any, Any]) -> None:
            assert tracer is not None
            context, recorded = tracing.rpc_context(metadata)
            if not recorded:
                token = tracing.attach(context)
                try:
                    await served(stream)
                finally:
                    tracing.detach(token)
                return
            with tracing.server_span(tracer, method_name, context) as span:
                code = await served(stream, span)
                tracing.end_rpc(span, code)

        async def served(stream: Stream[Any, Any], span: Any = None) -> str:
            children.started.inc()
            started = time.perf_counter()
            code = "OK"
            principal_token = None
            _labels.set(labels)
            _policy.set(policy)
            ctx._deadline.set(deadline)
            ctx._client_address.set(ctx.resolve_client_address(peer_host, forwarded, self.trusted_proxies))
            try:
                principal = await self._admit(policy, metadata)
                principal_token = set_principal(principal)
                await original(stream)
                return code
            except MeetmeshError as exc:
                code = exc.status.name
                raise to_grpc_error(exc) from None
            except GRPCError as exc:
                code = exc.status.name
                raise
            except (asyncio.CancelledError, StreamTerminatedError, StreamClosedError):
                code = "CANCELLED"  # the client went away (or its deadline passed)
                raise
            except Exception as exc:
                unavailable = outage(exc)
                if unavailable is not None:
                    code = "UNAVAILABLE"
                    log.warning(
                        "dependency unavailable",
                        extra={"method": method_name, "error": type(exc).__name__},
                    )
                    raise to_grpc_error(unavailable) from None
                code = "INTERNAL"
                log.exception("unhandled error", extra={"method": method_name})
                raise to_grpc_error(Internal("internal error")) from None
            finally:
                if principal_token is not None:
                    reset_principal(principal_token)
                children.handled(code).inc()
                children.handling.observe(time.perf_counter() - started)
                if span is not None and code != "OK":
                    tracing.end_rpc(span, code)

        # (``served`` returns the call's code, for the span; the servers ignore the return value)
        return served if tracer is None else traced

    async def _on_message(self, event: RecvMessage) -> None:
        await self._message(event.message)

    async def _message(self, message: Any) -> None:
        labels = _labels.get()
        if labels is not None:
            self.metrics.method(labels).msg_received.inc()
        if _requests_log.isEnabledFor(logging.DEBUG):
            policy = _policy.get()
            _requests_log.debug(
                "request message",
                extra={"method": policy.path if policy else "", "request": message},
            )
        validate(message)

    async def _on_send(self, event: SendMessage) -> None:
        await self._sent(event.message)

    async def _sent(self, message: Any) -> None:
        labels = _labels.get()
        if labels is not None:
            self.metrics.method(labels).msg_sent.inc()
