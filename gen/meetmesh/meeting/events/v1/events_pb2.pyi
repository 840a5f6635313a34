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
    __slots__ = ("meeting", "time", "participant_waiting", "participant_admitted", "participant_denied", "participant_removed", "participant_left", "role_changed", "meeting_updated", "meeting_ended", "recording_ready")
    MEETING_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANT_WAITING_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANT_ADMITTED_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANT_DENIED_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANT_REMOVED_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANT_LEFT_FIELD_NUMBER: _ClassVar[int]
    ROLE_CHANGED_FIELD_NUMBER: _ClassVar[int]
    MEETING_UPDATED_FIELD_NUMBER: _ClassVar[int]
    MEETING_ENDED_FIELD_NUMBER: _ClassVar[int]
    RECORDING_READY_FIELD_NUMBER: _ClassVar[int]
    meeting: str
    time: _timestamp_pb2.Timestamp
    participant_waiting: ParticipantChange
    participant_admitted: ParticipantChange
    participant_denied: ParticipantChange
    participant_removed: ParticipantChange
    participant_left: ParticipantChange
    role_changed: RoleChanged
    meeting_updated: MeetingUpdated
    meeting_ended: MeetingEnded
    recording_ready: RecordingReady
    def __init__(self, meeting: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., participant_waiting: _Optional[_Union[ParticipantChange, _Mapping]] = ..., participant_admitted: _Optional[_Union[ParticipantChange, _Mapping]] = ..., participant_denied: _Optional[_Union[ParticipantChange, _Mapping]] = ..., participant_removed: _Optional[_Union[ParticipantChange, _Mapping]] = ..., participant_left: _Optional[_Union[ParticipantChange, _Mapping]] = ..., role_changed: _Optional[_Union[RoleChanged, _Mapping]] = ..., meeting_updated: _Optional[_Union[MeetingUpdated, _Mapping]] = ..., meeting_ended: _Optional[_Union[MeetingEnded, _Mapping]] = ..., recording_ready: _Optional[_Union[RecordingReady, _Mapping]] = ...) -> None: ...

class ParticipantChange(_message.Message):
    __slots__ = ("participant", "user")
    PARTICIPANT_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    participant: str
    user: str
    def __init__(self, participant: _Optional[str] = ..., user: _Optional[str] = ...) -> None: ...

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
