"""The meeting service's gRPC handlers, one module per concern (see docs/architecture.md).

``MeetingService`` is a thin composition: each concern's RPCs are a mixin over the shared
:class:`~.base.MeetingHandlers` (dependencies, access, change events).
"""

from meetmesh.meeting.v1 import meeting_grpc

from .attachments import AttachmentMethods
from .invitations import InvitationMethods
from .joining import JoiningMethods
from .meetings import MeetingMethods
from .participants import ParticipantMethods
from .recordings import RecordingMethods, RecordingRegistry
from .settings import MeetingSettingsLookup
from .transcripts import TranscriptRegistry


class MeetingService(
    MeetingMethods,
    JoiningMethods,
    ParticipantMethods,
    InvitationMethods,
    RecordingMethods,
    AttachmentMethods,
    meeting_grpc.MeetingServiceBase,
):
    """The public ``meetmesh.meeting.v1.MeetingService``."""


__all__ = ["MeetingService", "MeetingSettingsLookup", "RecordingRegistry", "TranscriptRegistry"]
