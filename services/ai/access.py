"""Who may read a meeting's results (whoever the meeting service shows the meeting to), and who
may administer the models (admins).

The ai service asks the meeting service (`GetMeeting` on the caller's own token); NOT_FOUND there
is NOT_FOUND here, so a transcript is exactly as visible as its meeting.
"""

from __future__ import annotations

from grpclib.client import Channel
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from meetmesh.meeting.v1 import meeting_grpc, meeting_pb2
from services.kit import (
    NotFound,
    PermissionDenied,
    Principal,
    Unavailable,
    channel,
    current_principal,
    downstream_timeout,
)


class MeetingAccess:
    def __init__(self, target: str) -> None:
        self._target = target
        self._channel: Channel | None = None

    async def check(self, meeting_id: str, principal: Principal) -> None:
        if principal.is_admin:
            return
        if self._channel is None:
            self._channel = channel(self._target)
        try:
            await meeting_grpc.MeetingServiceStub(self._channel).GetMeeting(
                meeting_pb2.GetMeetingRequest(name=f"meetings/{meeting_id}"),
                timeout=downstream_timeout(3.0),
                metadata={"authorization": f"Bearer {principal.token}"},
            )
        except GRPCError as exc:
            if exc.status in (Status.NOT_FOUND, Status.PERMISSION_DENIED, Status.INVALID_ARGUMENT):
                raise NotFound(f"meeting {meeting_id!r} not found") from None
            raise Unavailable("the meeting service is unavailable; retry later") from None
        except (OSError, TimeoutError):
            raise Unavailable("the meeting service is unavailable; retry later") from None

    def close(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None


def require_admin() -> None:
    """Model administration is for admins (the contract admits any user; the role is checked here)."""
    if not current_principal().is_admin:
        raise PermissionDenied("model administration is for admins")
