import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from meetmesh.meeting.v1 import meeting_pb2 as _meeting_pb2
from meetmesh.options.v1 import options_pb2 as _options_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class MeetingEvent(_message.Message):
    __slots__ = ("meeting", "time", "host", "title", "participant_waiting", "participant_admitted", "participant_denied", "participant_removed", "participant_left", "role_changed", "meeting_updated", "meeting_ended", "recording_ready", "invitation_created", "transcript_ready")
    MEETING_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANT_WAITING_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANT_ADMITTED_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANT_DENIED_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANT_REMOVED_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANT_LEFT_FIELD_NUMBER: _ClassVar[int]
    ROLE_CHANGED_FIELD_NUMBER: _ClassVar[int]
    MEETING_UPDATED_FIELD_NUMBER: _ClassVar[int]
    MEETING_ENDED_FIELD_NUMBER: _ClassVar[int]
    RECORDING_READY_FIELD_NUMBER: _ClassVar[int]
    INVITATION_CREATED_FIELD_NUMBER: _ClassVar[int]
    TRANSCRIPT_READY_FIELD_NUMBER: _ClassVar[int]
    meeting: str
    time: _timestamp_pb2.Timestamp
    host: str
    title: str
    participant_waiting: ParticipantChange
    participant_admitted: ParticipantChange
    participant_denied: ParticipantChange
    participant_removed: ParticipantChange
    participant_left: ParticipantChange
    role_changed: RoleChanged
    meeting_updated: MeetingUpdated
    meeting_ended: MeetingEnded
    recording_ready: RecordingReady
    invitation_created: InvitationCreated
    transcript_ready: TranscriptReady
    def __init__(self, meeting: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., host: _Optional[str] = ..., title: _Optional[str] = ..., participant_waiting: _Optional[_Union[ParticipantChange, _Mapping]] = ..., participant_admitted: _Optional[_Union[ParticipantChange, _Mapping]] = ..., participant_denied: _Optional[_Union[ParticipantChange, _Mapping]] = ..., participant_removed: _Optional[_Union[ParticipantChange, _Mapping]] = ..., participant_left: _Optional[_Union[ParticipantChange, _Mapping]] = ..., role_changed: _Optional[_Union[RoleChanged, _Mapping]] = ..., meeting_updated: _Optional[_Union[MeetingUpdated, _Mapping]] = ..., meeting_ended: _Optional[_Union[MeetingEnded, _Mapping]] = ..., recording_ready: _Optional[_Union[RecordingReady, _Mapping]] = ..., invitation_created: _Optional[_Union[InvitationCreated, _Mapping]] = ..., transcript_ready: _Optional[_Union[TranscriptReady, _Mapping]] = ...) -> None: ...

class ParticipantChange(_message.Message):
    __slots__ = ("participant", "user", "display_name")
    PARTICIPANT_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    participant: str
    user: str
    display_name: str
    def __init__(self, participant: _Optional[str] = ..., user: _Optional[str] = ..., display_name: _Optional[str] = ...) -> None: ...

class RoleChanged(_message.Message):
    __slots__ = ("participant", "user", "role", "grants")
    PARTICIPANT_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    GRANTS_FIELD_NUMBER: _ClassVar[int]
    participant: str
    user: str
    role: _meeting_pb2.Role
    grants: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, participant: _Optional[str] = ..., user: _Optional[str] = ..., role: _Optional[_Union[_meeting_pb2.Role, str]] = ..., grants: _Optional[_Iterable[str]] = ...) -> None: ...

class MeetingUpdated(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class MeetingEnded(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RecordingReady(_message.Message):
    __slots__ = ("recording",)
    RECORDING_FIELD_NUMBER: _ClassVar[int]
    recording: str
    def __init__(self, recording: _Optional[str] = ...) -> None: ...

class InvitationCreated(_message.Message):
    __slots__ = ("invitation", "email", "inviter", "description", "start_time", "end_time", "inviter_name")
    INVITATION_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    INVITER_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    INVITER_NAME_FIELD_NUMBER: _ClassVar[int]
    invitation: str
    email: str
    inviter: str
    description: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    inviter_name: str
    def __init__(self, invitation: _Optional[str] = ..., email: _Optional[str] = ..., inviter: _Optional[str] = ..., description: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., inviter_name: _Optional[str] = ...) -> None: ...

class TranscriptReady(_message.Message):
    __slots__ = ("transcript", "segment_count")
    TRANSCRIPT_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_COUNT_FIELD_NUMBER: _ClassVar[int]
    transcript: str
    segment_count: int
    def __init__(self, transcript: _Optional[str] = ..., segment_count: _Optional[int] = ...) -> None: ...
