"""A gRPC call's outcome as the kit's HTTP/2 client reports it (``grpc_h2``), and the mapping of
gRPC statuses to HTTP statuses (google/rpc/code.proto, as Envoy's transcoder and grpc-gateway use
it) with which the edge answers gRPC-web and JSON callers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from google.rpc import status_pb2
from grpclib.const import Status

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
