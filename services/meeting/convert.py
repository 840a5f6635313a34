"""Conversions between the meeting service's rows and its protos (pure functions), and the ids in
resource names."""

from __future__ import annotations

import json
import weakref
from collections.abc import Iterable

from google.protobuf import json_format

from meetmesh.meeting.v1 import meeting_pb2
from services.kit.timestamps import to_timestamp

from . import access as g
from .models import AttachmentRow, InvitationRow, MeetingRow, ParticipantRow, RecordingRow
from .store import ADMITTED, DENIED, LEFT, REMOVED, WAITING

_MEETING_STATES = {
    "scheduled": meeting_pb2.Meeting.STATE_SCHEDULED,
    "active": meeting_pb2.Meeting.STATE_ACTIVE,
    "ended": meeting_pb2.Meeting.STATE_ENDED,
}
_PARTICIPANT_STATES = {
    WAITING: meeting_pb2.Participant.STATE_WAITING,
    ADMITTED: meeting_pb2.Participant.STATE_ADMITTED,
    DENIED: meeting_pb2.Participant.STATE_DENIED,
    REMOVED: meeting_pb2.Participant.STATE_REMOVED,
    LEFT: meeting_pb2.Participant.STATE_LEFT,
}
#: ``ListParticipantsRequest.state`` -> the stored state (absent: every state).
STATE_FILTER: dict[int, str] = {v: k for k, v in _PARTICIPANT_STATES.items()}
_ATTACHMENT_STATES = {
    "pending": meeting_pb2.Attachment.STATE_PENDING,
    "ready": meeting_pb2.Attachment.STATE_READY,
}


def meeting_id_of(name: str) -> str:
    """``meetings/{meeting}`` (or a name under it) -> the meeting's id."""
    return name.split("/")[1]


def participant_ids_of(name: str) -> tuple[str, str]:
    """``meetings/{meeting}/participants/{participant}`` -> (meeting id, participant id)."""
    parts = name.split("/")
    return parts[1], parts[3]


def meeting_message(row: MeetingRow) -> meeting_pb2.Meeting:
    return meeting_pb2.Meeting(
        name=f"meetings/{row.id}",
        title=row.title,
        description=row.description,
        host=f"users/{row.host_user_id}",
        start_time=to_timestamp(row.start_time),
        end_time=to_timestamp(row.end_time),
        passcode_protected=row.passcode_hash is not None,
        lobby_enabled=row.lobby_enabled,
        capacity=row.capacity,
        settings=meeting_pb2.MeetingSettings(
            recording_allowed=row.recording_allowed,
            ai_enabled=row.ai_enabled,
            live_emotions=row.live_emotions,
        ),
        role_grants=g.overrides_to_proto(g.parse_overrides(row.role_grants)),
        state=_MEETING_STATES.get(row.state, meeting_pb2.Meeting.STATE_UNSPECIFIED),
        create_time=to_timestamp(row.create_time),
        update_time=to_timestamp(row.update_time),
        participant_count=row.admitted_count,
    )


# The message of each cached meeting row, made once per row: the cache replaces a row (never
# changes it) when the meeting changes, and a row's entry goes with the row. Converting was about
# a tenth of GetMeeting's CPU (four timestamp conversions, the grants).
_messages: weakref.WeakKeyDictionary[MeetingRow, meeting_pb2.Meeting] = weakref.WeakKeyDictionary()


def cached_meeting_message(row: MeetingRow) -> meeting_pb2.Meeting:
    """``meeting_message`` of a row from the meeting cache. The message is shared: copy it into the
    response (``GetMeetingResponse(meeting=...)`` does), never change it."""
    message = _messages.get(row)
    if message is None:
        message = _messages[row] = meeting_message(row)
    return message


def participant_message(row: ParticipantRow, meeting: MeetingRow) -> meeting_pb2.Participant:
    return meeting_pb2.Participant(
        name=f"meetings/{row.meeting_id}/participants/{row.id}",
        user=f"users/{row.user_id}",
        display_name=row.display_name,
        role=g.ROLE_TO_PROTO.get(row.role, meeting_pb2.ROLE_UNSPECIFIED),
        state=_PARTICIPANT_STATES.get(row.state, meeting_pb2.Participant.STATE_UNSPECIFIED),
        grants=g.to_proto(g.effective(row.role, g.parse_overrides(meeting.role_grants))),
        create_time=to_timestamp(row.create_time),
        admit_time=to_timestamp(row.admit_time),
    )


def invitation_message(row: InvitationRow) -> meeting_pb2.Invitation:
    return meeting_pb2.Invitation(
        name=f"meetings/{row.meeting_id}/invitations/{row.id}",
        email=row.email,
        inviter=f"users/{row.inviter_user_id}",
        create_time=to_timestamp(row.create_time),
    )


def recording_message(row: RecordingRow) -> meeting_pb2.Recording:
    return meeting_pb2.Recording(
        name=f"meetings/{row.meeting_id}/recordings/{row.id}",
        object_key=row.object_key,
        media_type=row.media_type,
        duration_seconds=row.duration_seconds,
        size_bytes=row.size_bytes,
        download_uri=row.download_uri,
        start_time=to_timestamp(row.start_time),
        end_time=to_timestamp(row.end_time),
        renditions=renditions_of(row.renditions),
        transcode_job=row.transcode_job,
    )


def renditions_of(stored: str) -> list[meeting_pb2.RecordingRendition]:
    """The renditions kept in a recording row (a JSON list of proto3 JSON messages)."""
    return [
        json_format.ParseDict(item, meeting_pb2.RecordingRendition()) for item in json.loads(stored or "[]")
    ]


def renditions_json(renditions: Iterable[meeting_pb2.RecordingRendition]) -> str:
    """What a recording row keeps of its renditions (never a signed URL)."""
    kept = []
    for rendition in renditions:
        copy = meeting_pb2.RecordingRendition()
        copy.CopyFrom(rendition)
        copy.ClearField("uri")
        kept.append(json_format.MessageToDict(copy))
    return json.dumps(kept)


def attachment_message(row: AttachmentRow, download_uri: str = "") -> meeting_pb2.Attachment:
    return meeting_pb2.Attachment(
        name=f"meetings/{row.meeting_id}/attachments/{row.id}",
        filename=row.filename,
        content_type=row.content_type,
        size_bytes=row.size_bytes,
        uploader=f"users/{row.uploader_user_id}",
        state=_ATTACHMENT_STATES.get(row.state, meeting_pb2.Attachment.STATE_UNSPECIFIED),
        download_uri=download_uri,
        create_time=to_timestamp(row.create_time),
    )
