"""Typed clients to other services: identity, deadlines and retries on every call.

* **Identity.** Internal methods (``caller: CALLER_SERVICE`` in the contract) need a service
  credential: a short-lived service token (docs/adr/0005-service-identity.md). A channel made with
  an ``identity`` adds ``authorization: Bearer <service token>`` to each request through grpclib's
  ``SendRequest`` event, unless the call already carries credentials of its own (a user's token on
  a call made on the user's behalf).
* **Deadlines.** A call made while serving another carries what is left of that call's deadline:
  grpclib's ``SendRequest.deadline`` is read-only, so ``MeshChannel.request`` computes the remaining
  time when the call is created and passes it as ``timeout=`` (the smaller of it and any timeout
  the caller gives).
* **Retries.** ``client(StubType, channel)`` makes a stub whose unary methods that the contract
  marks idempotent (``option idempotency_level = NO_SIDE_EFFECTS`` or ``IDEMPOTENT``) are retried
  on UNAVAILABLE (and on a refused or lost connection) with exponential backoff and full jitter,
  never past the call's deadline. Every other status, and every other method, fails at once.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from google.protobuf import descriptor_pb2, descriptor_pool
from grpclib.client import Channel, Stream, UnaryUnaryMethod
from grpclib.const import Cardinality, Status
from grpclib.events import SendRequest, listen
from grpclib.exceptions import GRPCError, StreamTerminatedError
from grpclib.metadata import Deadline

from .context import downstream_timeout
from .tracing import TracedChannel

if TYPE_CHECKING:
    from .auth import TokenService

#: A service token lives this long; a new one is issued when less than a third is left.
SERVICE_TOKEN_TTL_S = 300

S = TypeVar("S")
_Metadata = Mapping[str, str | bytes] | Collection[tuple[str, str | bytes]]
_IDEMPOTENT = (
    descriptor_pb2.MethodOptions.NO_SIDE_EFFECTS,
    descriptor_pb2.MethodOptions.IDEMPOTENT,
)


class ServiceIdentity:
    """The credential one service presents to others: service tokens, renewed before they expire."""

    def __init__(self, tokens: TokenService, service: str, ttl_s: int = SERVICE_TOKEN_TTL_S) -> None:
        self.service = service
        self._tokens = tokens
        self._ttl_s = ttl_s
        self._token = ""
        self._renew_at = 0.0

    def authorization(self) -> str:
        """The `authorization` metadata value for a call made now."""
        now = time.time()
        if now >= self._renew_at:
            self._token, expires = self._tokens.issue_service(self.service, self._ttl_s)
            self._renew_at = expires - self._ttl_s / 3
        return f"Bearer {self._token}"

    async def on_send_request(self, event: SendRequest) -> None:
        if "authorization" not in event.metadata:
            event.metadata["authorization"] = self.authorization()


class MeshChannel(TracedChannel):
    """A grpclib channel whose calls carry what is left of the current call's deadline (and, while
    tracing is on, make CLIENT spans with ``traceparent``: ``TracedChannel``)."""

    def request(
        self,
        name: str,
        cardinality: Cardinality,
        request_type: Any,
        reply_type: Any,
        *,
        timeout: float | None = None,
        deadline: Deadline | None = None,
        metadata: _Metadata | None = None,
    ) -> Stream[Any, Any]:
        if deadline is None:
            timeout = downstream_timeout(timeout)
        return super().request(
            name, cardinality, request_type, reply_type, timeout=timeout, deadline=deadline, metadata=metadata
        )


def channel(target: str, identity: ServiceIdentity | None = None) -> MeshChannel:
    """A channel to ``host:port``, presenting ``identity`` when given."""
    host, _, port = target.rpartition(":")
    ch = MeshChannel(
        host.strip("[]") or "127.0.0.1", int(port), service=identity.service if identity else "client"
    )
    if identity is not None:
        listen(ch, SendRequest, identity.on_send_request)
    return ch


@dataclass(frozen=True)
class RetryPolicy:
    """Retries of idempotent unary calls on UNAVAILABLE: up to ``attempts`` calls in all, waiting
    a random time up to ``initial_backoff_s * 2**n`` (at most ``max_backoff_s``) before retry n."""

    attempts: int = 4
    initial_backoff_s: float = 0.05
    max_backoff_s: float = 1.0

    def backoff(self, retry: int) -> float:
        return random.uniform(0, min(self.max_backoff_s, self.initial_backoff_s * 2**retry))


DEFAULT_RETRY = RetryPolicy()


def is_idempotent(path: str, pool: descriptor_pool.DescriptorPool | None = None) -> bool:
    """Whether the contract marks ``/package.Service/Method`` idempotent (``idempotency_level``)."""
    service, _, name = path[1:].partition("/")
    try:
        method = (pool or descriptor_pool.Default()).FindMethodByName(f"{service}.{name}")
    except KeyError:
        return False
    return method.GetOptions().idempotency_level in _IDEMPOTENT


class RetryingUnaryMethod(UnaryUnaryMethod[Any, Any]):
    """An idempotent unary method, retried on UNAVAILABLE within the call's deadline."""

    policy: RetryPolicy = DEFAULT_RETRY

    async def __call__(
        self,
        message: Any,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 (grpclib's signature)
        metadata: Any = None,
    ) -> Any:
        budget = downstream_timeout(timeout)
        deadline = None if budget is None else time.monotonic() + budget
        retry = 0
        while True:
            remaining = None if deadline is None else deadline - time.monotonic()
            try:
                return await super().__call__(message, timeout=remaining, metadata=metadata)
            except GRPCError as exc:
                if exc.status is not Status.UNAVAILABLE:
                    raise
                error: Exception = exc
            except (ConnectionError, StreamTerminatedError) as exc:
                error = exc
            retry += 1
            wait = self.policy.backoff(retry - 1)
            if retry >= self.policy.attempts or (
                deadline is not None and time.monotonic() + wait >= deadline
            ):
                raise error
            await asyncio.sleep(wait)


def client(stub_type: type[S], ch: Channel, retry: RetryPolicy = DEFAULT_RETRY) -> S:
    """A ``stub_type`` stub on ``ch`` whose idempotent unary methods are retried (see above)."""
    stub = stub_type(ch)  # type: ignore[call-arg]
    for attribute, method in list(vars(stub).items()):
        if type(method) is UnaryUnaryMethod and is_idempotent(method.name):
            retrying = RetryingUnaryMethod(ch, method.name, method.request_type, method.reply_type)
            retrying.policy = retry
            setattr(stub, attribute, retrying)
    return stub
