"""Errors as one line and an exit code per gRPC status class (the table in docs/cli.md).

=====  ==========================================================  ============================
code   gRPC status                                                 meaning
=====  ==========================================================  ============================
0      OK                                                          done
1      UNKNOWN, INTERNAL, DATA_LOSS, UNIMPLEMENTED, CANCELLED      a fault on the server's side
2      (command line)                                              bad usage: unknown option...
3      INVALID_ARGUMENT, FAILED_PRECONDITION, OUT_OF_RANGE         the request was refused as is
4      UNAUTHENTICATED                                             not signed in, or session over
5      PERMISSION_DENIED                                           signed in, but not allowed
6      NOT_FOUND                                                   no such thing (or not visible)
7      ALREADY_EXISTS, ABORTED                                     conflicts with the current state
8      UNAVAILABLE, DEADLINE_EXCEEDED                              server down or too slow: retry
9      RESOURCE_EXHAUSTED                                          rate limited or over a quota
=====  ==========================================================  ============================
"""

from __future__ import annotations

import json
from typing import Any

from google.rpc import error_details_pb2
from grpclib.const import Status
from grpclib.exceptions import GRPCError

EXIT_OK = 0
EXIT_SERVER = 1
EXIT_USAGE = 2
EXIT_INVALID = 3
EXIT_UNAUTHENTICATED = 4
EXIT_PERMISSION = 5
EXIT_NOT_FOUND = 6
EXIT_CONFLICT = 7
EXIT_UNAVAILABLE = 8
EXIT_EXHAUSTED = 9

EXIT_CODES: dict[Status, int] = {
    Status.UNKNOWN: EXIT_SERVER,
    Status.INTERNAL: EXIT_SERVER,
    Status.DATA_LOSS: EXIT_SERVER,
    Status.UNIMPLEMENTED: EXIT_SERVER,
    Status.CANCELLED: EXIT_SERVER,
    Status.INVALID_ARGUMENT: EXIT_INVALID,
    Status.FAILED_PRECONDITION: EXIT_INVALID,
    Status.OUT_OF_RANGE: EXIT_INVALID,
    Status.UNAUTHENTICATED: EXIT_UNAUTHENTICATED,
    Status.PERMISSION_DENIED: EXIT_PERMISSION,
    Status.NOT_FOUND: EXIT_NOT_FOUND,
    Status.ALREADY_EXISTS: EXIT_CONFLICT,
    Status.ABORTED: EXIT_CONFLICT,
    Status.UNAVAILABLE: EXIT_UNAVAILABLE,
    Status.DEADLINE_EXCEEDED: EXIT_UNAVAILABLE,
    Status.RESOURCE_EXHAUSTED: EXIT_EXHAUSTED,
}


class CliError(Exception):
    """A failure to report as one line with an exit code (raised by commands, caught in main)."""

    def __init__(self, message: str, exit_code: int, *, status: str = "", details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.status = status
        self.details = details or {}

    def line(self) -> str:
        suffix = f" ({self.status})" if self.status else ""
        return f"meetmesh: {self.message}{suffix}"

    def json_line(self) -> str:
        body = {"code": self.status or "CLI", "message": self.message, "exitCode": self.exit_code}
        body.update(self.details)
        return json.dumps({"error": body}, separators=(",", ":"))


def _details(error: GRPCError) -> tuple[list[tuple[str, str]], str, float | None]:
    violations: list[tuple[str, str]] = []
    reason = ""
    retry: float | None = None
    for detail in error.details or []:
        if isinstance(detail, error_details_pb2.BadRequest):
            violations += [(v.field, v.description) for v in detail.field_violations]
        elif isinstance(detail, error_details_pb2.ErrorInfo):
            reason = detail.reason
        elif isinstance(detail, error_details_pb2.RetryInfo):
            retry = detail.retry_delay.seconds + detail.retry_delay.nanos / 1e9
    return violations, reason, retry


def from_grpc(error: GRPCError, doing: str = "") -> CliError:
    """One line from a gRPC error: the message, each field violation named, a retry hint."""
    violations, reason, retry = _details(error)
    message = (error.message or error.status.name.lower().replace("_", " ")).rstrip(".")
    if violations:
        named = "; ".join(
            description if description.startswith(field) else f"{field}: {description}"
            for field, description in violations
        )
        message = f"{message}: {named}" if named not in message else message
    if retry is not None:
        message += f"; retry in {retry:g} s"
    if error.status is Status.UNAUTHENTICATED and "meetmesh login" not in message:
        message += " — run `meetmesh login`"
    if doing:
        message = f"{doing}: {message}"
    details: dict[str, Any] = {}
    if reason:
        details["reason"] = reason
    if violations:
        details["fieldViolations"] = [{"field": f, "description": d} for f, d in violations]
    return CliError(
        " ".join(message.split()),
        EXIT_CODES.get(error.status, EXIT_SERVER),
        status=error.status.name,
        details=details,
    )
