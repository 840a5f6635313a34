"""gRPC statuses at the edge: the errors it answers itself, with `google.rpc.Status` details.

A call's outcome (`RpcStatus`) and the gRPC-to-HTTP mapping (google/rpc/code.proto, as Envoy's
transcoder and grpc-gateway use it) live in the kit (`services/kit/rpc_status.py`), beside the
HTTP/2 client that reports them; this module re-exports them for the edge.
"""

from __future__ import annotations

import math

from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2
from grpclib.const import Status

from services.kit.errors import MeetmeshError, ReasonValue, reason_name
from services.kit.rpc_status import HTTP_STATUS, RpcStatus

__all__ = ["HTTP_STATUS", "EdgeError", "RpcStatus", "status_details"]


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
