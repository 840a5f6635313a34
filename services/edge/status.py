"""gRPC status codes at the edge: the gRPC-to-HTTP mapping and `google.rpc.Status` as JSON.

This is the one place where a gRPC status becomes an HTTP status (the mapping from
google/rpc/code.proto, as Envoy's transcoder and grpc-gateway use it).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from google.rpc import error_details_pb2, status_pb2
from grpclib.const import Status

from services.kit.errors import MeetmeshError, ReasonValue, reason_name

HTTP_STATUS: dict[Status, int] = {
    Status.OK: 200,
    Status.CANCELLED: 499,
    Status.UNKNOWN: 500,
    Status.INVALID_ARGUMENT: 400,
    Status.DEADLINE_EXCEEDED: 504,
    Status.NOT_FOUND: 404,
    Status.ALREADY_EXISTS: 409,
    Status.PERMISSION_DENIED: 403,
    Status.RESOURCE_EXHAUSTED: 429,
    Status.FAILED_PRECONDITION: 400,
    Status.ABORTED: 409,
    Status.OUT_OF_RANGE: 400,
    Status.UNIMPLEMENTED: 501,
    Status.INTERNAL: 500,
    Status.UNAVAILABLE: 503,
    Status.DATA_LOSS: 500,
    Status.UNAUTHENTICATED: 401,
}


@dataclass
class RpcStatus:
    """The outcome of a call: a gRPC status with message, raw details and trailing metadata."""

    code: Status
    message: str = ""
    #: Serialized `google.rpc.Status` from `grpc-status-details-bin`, passed through untouched.
    details_bin: bytes | None = None
    trailers: list[tuple[str, str | bytes]] = field(default_factory=list)
    #: Extra HTTP headers for the answer (e.g. `retry-after`).
    headers: list[tuple[str, str]] = field(default_factory=list)

    @property
    def http_status(self) -> int:
        return HTTP_STATUS.get(self.code, 500)

    def to_json(self) -> bytes:
        """The status as canonical JSON `google.rpc.Status` (details from the upstream if any)."""
        status = status_pb2.Status(code=self.code.value, message=self.message)
        if self.details_bin:
            try:
                status = status_pb2.Status.FromString(self.details_bin)
            except DecodeError:  # undecodable details: keep code and message only
                status = status_pb2.Status(code=self.code.value, message=self.message)
        try:
            as_dict = json_format.MessageToDict(status)
        except (json_format.Error, TypeError, KeyError):  # a detail type this edge does not know
            as_dict = {"code": self.code.value, "message": self.message}
        as_dict.setdefault("code", self.code.value)
        as_dict.setdefault("message", self.message)
        return json.dumps(as_dict, separators=(",", ":")).encode("utf-8")


def status_details(code: Status, message: str, reason: str, *extra: Message) -> bytes:
    """A serialized `google.rpc.Status` with an `ErrorInfo` (domain meetmesh.io), as services send."""
    status = status_pb2.Status(code=code.value, message=message)
    status.details.add().Pack(error_details_pb2.ErrorInfo(reason=reason, domain="meetmesh.io"))
    for detail in extra:
        status.details.add().Pack(detail)
    return bytes(status.SerializeToString())


class EdgeError(Exception):
    """A request the edge answers itself, without reaching a service."""

    def __init__(
        self,
        code: Status,
        message: str,
        *,
        reason: ReasonValue | str | None = None,
        http_status: int | None = None,
        headers: list[tuple[str, str]] | None = None,
        extra_details: tuple[Message, ...] = (),
    ) -> None:
        super().__init__(message)
        details = status_details(code, message, reason_name(reason), *extra_details) if reason else None
        self.status = RpcStatus(code, message, details, headers=headers or [])
        self.http_status = http_status or self.status.http_status

    @classmethod
    def from_error(cls, error: MeetmeshError) -> EdgeError:
        """The kit's error (from the shared token verifier or rate limiter) as the edge answers it:
        the same status and details a service would send, plus ``Retry-After`` when it says when."""
        retry_after = getattr(error, "retry_after_s", None)
        headers = [("retry-after", str(max(1, math.ceil(retry_after))))] if retry_after is not None else []
        edge_error = cls(error.status, error.message, headers=headers)
        status = status_pb2.Status(code=error.status.value, message=error.message)
        for detail in error.details():
            status.details.add().Pack(detail)
        edge_error.status.details_bin = bytes(status.SerializeToString())
        return edge_error
