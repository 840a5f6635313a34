"""Domain errors and their one mapping to gRPC status.

::

    MeetmeshError                    (status UNKNOWN unless a subclass says otherwise)
     +-- InvalidArgument             INVALID_ARGUMENT, with one BadRequest.FieldViolation per bad field
     +-- Unauthenticated             UNAUTHENTICATED
     +-- PermissionDenied            PERMISSION_DENIED
     +-- NotFound                    NOT_FOUND
     +-- AlreadyExists               ALREADY_EXISTS
     +-- FailedPrecondition          FAILED_PRECONDITION
     +-- ResourceExhausted           RESOURCE_EXHAUSTED, with RetryInfo
     +-- Unavailable                 UNAVAILABLE, with RetryInfo (a store or service is down)
     +-- Internal                    INTERNAL

Store outages need no handler code: ``outage`` recognises the drivers' connection errors (asyncpg
and SQLAlchemy, redis-py, PyMongo) and the kit's method wrapper answers them as ``Unavailable``.

Handlers raise these; ``to_grpc_error`` (called only by the kit's method wrapper) turns one into a
``GRPCError`` whose details are a ``google.rpc.Status`` with ``ErrorInfo`` (domain "meetmesh.io",
reason from ``meetmesh.common.v1.ErrorReason``) plus ``BadRequest`` or ``RetryInfo``. Messages are
for people and must never contain personal data.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, TypeAlias

from google.protobuf import duration_pb2
from google.rpc import error_details_pb2
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from meetmesh.common.v1 import errors_pb2

DOMAIN = "meetmesh.io"

#: The contract's reasons (``meetmesh.common.v1.ErrorReason``): handlers pass
#: ``reason=Reason.ERROR_REASON_MEETING_FULL``; the wire carries "MEETING_FULL".
Reason = errors_pb2.ErrorReason
ReasonValue: TypeAlias = errors_pb2.ErrorReason


def reason_name(reason: ReasonValue | str) -> str:
    """The string sent in ``ErrorInfo.reason``: the value's name without ``ERROR_REASON_`` (a string
    is a reason relayed from another service's ``ErrorInfo`` and passes through)."""
    if isinstance(reason, str):
        return reason
    return str(Reason.Name(reason)).removeprefix("ERROR_REASON_")


class MeetmeshError(Exception):
    """Base of every error a handler may raise on purpose."""

    status: ClassVar[Status] = Status.UNKNOWN
    default_reason: ClassVar[ReasonValue] = Reason.ERROR_REASON_INTERNAL

    def __init__(
        self,
        message: str,
        *,
        reason: ReasonValue | str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason_name(reason or self.default_reason)
        self.metadata = dict(metadata or {})

    def details(self) -> list[Any]:
        info = error_details_pb2.ErrorInfo(reason=self.reason, domain=DOMAIN, metadata=self.metadata)
        return [info]


class InvalidArgument(MeetmeshError):
    status = Status.INVALID_ARGUMENT
    default_reason = Reason.ERROR_REASON_INVALID_FIELD

    def __init__(
        self,
        violations: Iterable[tuple[str, str]],
        message: str | None = None,
        *,
        reason: ReasonValue | str | None = None,
    ) -> None:
        self.violations = list(violations)
        if message is None:
            fields = ", ".join(field for field, _ in self.violations)
            message = f"invalid request: {fields}" if fields else "invalid request"
        super().__init__(message, reason=reason)

    def details(self) -> list[Any]:
        bad = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=field, description=desc)
                for field, desc in self.violations
            ]
        )
        return [*super().details(), bad]


class Unauthenticated(MeetmeshError):
    status = Status.UNAUTHENTICATED
    default_reason = Reason.ERROR_REASON_INVALID_TOKEN


class PermissionDenied(MeetmeshError):
    status = Status.PERMISSION_DENIED
    default_reason = Reason.ERROR_REASON_PERMISSION_DENIED


class NotFound(MeetmeshError):
    status = Status.NOT_FOUND
    default_reason = Reason.ERROR_REASON_NOT_FOUND


class AlreadyExists(MeetmeshError):
    status = Status.ALREADY_EXISTS
    default_reason = Reason.ERROR_REASON_ALREADY_EXISTS


class FailedPrecondition(MeetmeshError):
    status = Status.FAILED_PRECONDITION
    default_reason = Reason.ERROR_REASON_FAILED_PRECONDITION


class ResourceExhausted(MeetmeshError):
    status = Status.RESOURCE_EXHAUSTED
    default_reason = Reason.ERROR_REASON_RATE_LIMITED

    def __init__(
        self, message: str, *, retry_after_s: float, reason: ReasonValue | str | None = None
    ) -> None:
        super().__init__(message, reason=reason)
        self.retry_after_s = max(0.0, retry_after_s)

    def details(self) -> list[Any]:
        seconds = math.ceil(self.retry_after_s)
        retry = error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=seconds))
        return [*super().details(), retry]


class Unavailable(MeetmeshError):
    """Something the call needs is down (a store, another service); retrying later may work."""

    status = Status.UNAVAILABLE
    default_reason = Reason.ERROR_REASON_DEPENDENCY_UNAVAILABLE

    def __init__(
        self,
        message: str,
        *,
        retry_after_s: float = 1.0,
        reason: ReasonValue | str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message, reason=reason, metadata=metadata)
        self.retry_after_s = max(0.0, retry_after_s)

    def details(self) -> list[Any]:
        seconds = math.ceil(self.retry_after_s)
        retry = error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=seconds))
        return [*super().details(), retry]


class Internal(MeetmeshError):
    status = Status.INTERNAL
    default_reason = Reason.ERROR_REASON_INTERNAL


# SQLSTATE classes of a lost or refused database connection: 08 (connection exception) and 57P
# (operator intervention: admin or crash shutdown, cannot connect now).
_OUTAGE_SQLSTATES = ("08", "57P")


def _driver_outages() -> tuple[type[BaseException], ...]:
    import asyncpg
    import pymongo.errors
    import redis.exceptions
    import sqlalchemy.exc

    return (
        OSError,  # includes ConnectionError (refused, reset) and TimeoutError
        asyncpg.InterfaceError,  # the hot paths' own pool (Database.pg): connection gone
        asyncpg.PostgresConnectionError,
        redis.exceptions.ConnectionError,
        redis.exceptions.TimeoutError,
        sqlalchemy.exc.OperationalError,
        sqlalchemy.exc.InterfaceError,
        sqlalchemy.exc.DisconnectionError,
        sqlalchemy.exc.TimeoutError,  # no pooled connection came free in time
        pymongo.errors.ConnectionFailure,  # AutoReconnect, NetworkTimeout, ServerSelectionTimeoutError
    )


_OUTAGES: tuple[type[BaseException], ...] | None = None


def outage(exc: BaseException, retry_after_s: float = 1.0) -> Unavailable | None:
    """``Unavailable`` (with RetryInfo) when ``exc`` says a store is unreachable, else None."""
    global _OUTAGES
    if _OUTAGES is None:
        _OUTAGES = _driver_outages()
    lost = isinstance(exc, _OUTAGES)
    if not lost:
        import asyncpg
        import sqlalchemy.exc

        if isinstance(exc, sqlalchemy.exc.DBAPIError):
            sqlstate = str(getattr(exc.orig, "sqlstate", "") or "")
            lost = exc.connection_invalidated or sqlstate.startswith(_OUTAGE_SQLSTATES)
        elif isinstance(exc, asyncpg.PostgresError):
            lost = str(getattr(exc, "sqlstate", "") or "").startswith(_OUTAGE_SQLSTATES)
    if not lost:
        return None
    return Unavailable("a store is unavailable; retry later", retry_after_s=retry_after_s)


def to_grpc_error(error: MeetmeshError) -> GRPCError:
    """The single place where a domain error becomes a gRPC status with details."""
    return GRPCError(error.status, error.message, error.details())
