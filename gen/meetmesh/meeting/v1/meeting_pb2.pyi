import datetime

from buf.validate import validate_pb2 as _validate_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from meetmesh.options.v1 import options_pb2 as _options_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Role(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ROLE_UNSPECIFIED: _ClassVar[Role]
    ROLE_HOST: _ClassVar[Role]
    ROLE_CO_HOST: _ClassVar[Role]
    ROLE_PARTICIPANT: _ClassVar[Role]
    ROLE_VIEWER: _ClassVar[Role]
ROLE_UNSPECIFIED: Role
ROLE_HOST: Role
ROLE_CO_HOST: Role
ROLE_PARTICIPANT: Role
ROLE_VIEWER: Role

class Meeting(_message.Message):
    __slots__ = ("name", "title", "description", "host", "start_time", "end_time", "passcode", "passcode_protected", "lobby_enabled", "capacity", "settings", "role_grants", "state", "create_time", "update_time", "participant_count")
    class State(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATE_UNSPECIFIED: _ClassVar[Meeting.State]
        STATE_SCHEDULED: _ClassVar[Meeting.State]
        STATE_ACTIVE: _ClassVar[Meeting.State]
        STATE_ENDED: _ClassVar[Meeting.State]
    STATE_UNSPECIFIED: Meeting.State
    STATE_SCHEDULED: Meeting.State
    STATE_ACTIVE: Meeting.State
    STATE_ENDED: Meeting.State
    NAME_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    PASSCODE_FIELD_NUMBER: _ClassVar[int]
    PASSCODE_PROTECTED_FIELD_NUMBER: _ClassVar[int]
    LOBBY_ENABLED_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    ROLE_GRANTS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANT_COUNT_FIELD_NUMBER: _ClassVar[int]
    name: str
    title: str
    description: str
    host: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    passcode: str
    passcode_protected: bool
    lobby_enabled: bool
    capacity: int
    settings: MeetingSettings
    role_grants: _containers.RepeatedCompositeFieldContainer[RoleGrants]
    state: Meeting.State
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    participant_count: int
    def __init__(self, name: _Optional[str] = ..., title: _Optional[str] = ..., description: _Optional[str] = ..., host: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., passcode: _Optional[str] = ..., passcode_protected: _Optional[bool] = ..., lobby_enabled: _Optional[bool] = ..., capacity: _Optional[int] = ..., settings: _Optional[_Union[MeetingSettings, _Mapping]] = ..., role_grants: _Optional[_Iterable[_Union[RoleGrants, _Mapping]]] = ..., state: _Optional[_Union[Meeting.State, str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., participant_count: _Optional[int] = ...) -> None: ...

class MeetingSettings(_message.Message):
    __slots__ = ("recording_allowed", "ai_enabled", "live_emotions")
    RECORDING_ALLOWED_FIELD_NUMBER: _ClassVar[int]
    AI_ENABLED_FIELD_NUMBER: _ClassVar[int]
    LIVE_EMOTIONS_FIELD_NUMBER: _ClassVar[int]
    recording_allowed: bool
    ai_enabled: bool
    live_emotions: bool
    def __init__(self, recording_allowed: _Optional[bool] = ..., ai_enabled: _Optional[bool] = ..., live_emotions: _Optional[bool] = ...) -> None: ...

class Grants(_message.Message):
    __slots__ = ("publish", "subscribe", "chat", "record", "moderate")
    PUBLISH_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIBE_FIELD_NUMBER: _ClassVar[int]
    CHAT_FIELD_NUMBER: _ClassVar[int]
    RECORD_FIELD_NUMBER: _ClassVar[int]
    MODERATE_FIELD_NUMBER: _ClassVar[int]
    publish: bool
    subscribe: bool
    chat: bool
    record: bool
    moderate: bool
    def __init__(self, publish: _Optional[bool] = ..., subscribe: _Optional[bool] = ..., chat: _Optional[bool] = ..., record: _Optional[bool] = ..., moderate: _Optional[bool] = ...) -> None: ...

class RoleGrants(_message.Message):
    __slots__ = ("role", "grants")
    ROLE_FIELD_NUMBER: _ClassVar[int]
    GRANTS_FIELD_NUMBER: _ClassVar[int]
    role: Role
    grants: Grants
    def __init__(self, role: _Optional[_Union[Role, str]] = ..., grants: _Optional[_Union[Grants, _Mapping]] = ...) -> None: ...

class Participant(_message.Message):
    __slots__ = ("name", "user", "display_name", "role", "state", "grants", "create_time", "admit_time")
    class State(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATE_UNSPECIFIED: _ClassVar[Participant.State]
        STATE_WAITING: _ClassVar[Participant.State]
        STATE_ADMITTED: _ClassVar[Participant.State]
        STATE_DENIED: _ClassVar[Participant.State]
        STATE_REMOVED: _ClassVar[Participant.State]
        STATE_LEFT: _ClassVar[Participant.State]
    STATE_UNSPECIFIED: Participant.State
    STATE_WAITING: Participant.State
    STATE_ADMITTED: Participant.State
    STATE_DENIED: Participant.State
    STATE_REMOVED: Participant.State
    STATE_LEFT: Participant.State
    NAME_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    GRANTS_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ADMIT_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    user: str
    display_name: str
    role: Role
    state: Participant.State
    grants: Grants
    create_time: _timestamp_pb2.Timestamp
    admit_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., user: _Optional[str] = ..., display_name: _Optional[str] = ..., role: _Optional[_Union[Role, str]] = ..., state: _Optional[_Union[Participant.State, str]] = ..., grants: _Optional[_Union[Grants, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., admit_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Invitation(_message.Message):
    __slots__ = ("name", "email", "inviter", "create_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    INVITER_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    email: str
    inviter: str
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., email: _Optional[str] = ..., inviter: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Recording(_message.Message):
    __slots__ = ("name", "object_key", "media_type", "duration_seconds", "size_bytes", "download_uri", "start_time", "end_time", "renditions", "transcode_job")
    NAME_FIELD_NUMBER: _ClassVar[int]
    OBJECT_KEY_FIELD_NUMBER: _ClassVar[int]
    MEDIA_TYPE_FIELD_NUMBER: _ClassVar[int]
    DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    DOWNLOAD_URI_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    RENDITIONS_FIELD_NUMBER: _ClassVar[int]
    TRANSCODE_JOB_FIELD_NUMBER: _ClassVar[int]
    name: str
    object_key: str
    media_type: str
    duration_seconds: float
    size_bytes: int
    download_uri: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    renditions: _containers.RepeatedCompositeFieldContainer[RecordingRendition]
    transcode_job: str
    def __init__(self, name: _Optional[str] = ..., object_key: _Optional[str] = ..., media_type: _Optional[str] = ..., duration_seconds: _Optional[float] = ..., size_bytes: _Optional[int] = ..., download_uri: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., renditions: _Optional[_Iterable[_Union[RecordingRendition, _Mapping]]] = ..., transcode_job: _Optional[str] = ...) -> None: ...

class RecordingRendition(_message.Message):
    __slots__ = ("kind", "participant", "object_key", "media_type", "size_bytes", "duration_seconds", "uri")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        KIND_UNSPECIFIED: _ClassVar[RecordingRendition.Kind]
        KIND_MP4: _ClassVar[RecordingRendition.Kind]
        KIND_HLS: _ClassVar[RecordingRendition.Kind]
    KIND_UNSPECIFIED: RecordingRendition.Kind
    KIND_MP4: RecordingRendition.Kind
    KIND_HLS: RecordingRendition.Kind
    KIND_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANT_FIELD_NUMBER: _ClassVar[int]
    OBJECT_KEY_FIELD_NUMBER: _ClassVar[int]
    MEDIA_TYPE_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    URI_FIELD_NUMBER: _ClassVar[int]
    kind: RecordingRendition.Kind
    participant: str
    object_key: str
    media_type: str
    size_bytes: int
    duration_seconds: float
    uri: str
    def __init__(self, kind: _Optional[_Union[RecordingRendition.Kind, str]] = ..., participant: _Optional[str] = ..., object_key: _Optional[str] = ..., media_type: _Optional[str] = ..., size_bytes: _Optional[int] = ..., duration_seconds: _Optional[float] = ..., uri: _Optional[str] = ...) -> None: ...

class Attachment(_message.Message):
    __slots__ = ("name", "filename", "content_type", "size_bytes", "uploader", "state", "download_uri", "create_time")
    class State(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATE_UNSPECIFIED: _ClassVar[Attachment.State]
        STATE_PENDING: _ClassVar[Attachment.State]
        STATE_READY: _ClassVar[Attachment.State]
    STATE_UNSPECIFIED: Attachment.State
    STATE_PENDING: Attachment.State
    STATE_READY: Attachment.State
    NAME_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    UPLOADER_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    DOWNLOAD_URI_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    filename: str
    content_type: str
    size_bytes: int
    uploader: str
    state: Attachment.State
    download_uri: str
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., filename: _Optional[str] = ..., content_type: _Optional[str] = ..., size_bytes: _Optional[int] = ..., uploader: _Optional[str] = ..., state: _Optional[_Union[Attachment.State, str]] = ..., download_uri: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateMeetingRequest(_message.Message):
    __slots__ = ("meeting", "request_id")
    MEETING_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    meeting: Meeting
    request_id: str
    def __init__(self, meeting: _Optional[_Union[Meeting, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateMeetingResponse(_message.Message):
    __slots__ = ("meeting",)
    MEETING_FIELD_NUMBER: _ClassVar[int]
    meeting: Meeting
    def __init__(self, meeting: _Optional[_Union[Meeting, _Mapping]] = ...) -> None: ...

class GetMeetingRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetMeetingResponse(_message.Message):
    __slots__ = ("meeting",)
    MEETING_FIELD_NUMBER: _ClassVar[int]
    meeting: Meeting
    def __init__(self, meeting: _Optional[_Union[Meeting, _Mapping]] = ...) -> None: ...

class ListMeetingsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListMeetingsResponse(_message.Message):
    __slots__ = ("meetings", "next_page_token")
    MEETINGS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    meetings: _containers.RepeatedCompositeFieldContainer[Meeting]
    next_page_token: str
    def __init__(self, meetings: _Optional[_Iterable[_Union[Meeting, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateMeetingRequest(_message.Message):
    __slots__ = ("meeting", "update_mask")
    MEETING_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    meeting: Meeting
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, meeting: _Optional[_Union[Meeting, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateMeetingResponse(_message.Message):
    __slots__ = ("meeting",)
    MEETING_FIELD_NUMBER: _ClassVar[int]
    meeting: Meeting
    def __init__(self, meeting: _Optional[_Union[Meeting, _Mapping]] = ...) -> None: ...

class EndMeetingRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class EndMeetingResponse(_message.Message):
    __slots__ = ("meeting",)
    MEETING_FIELD_NUMBER: _ClassVar[int]
    meeting: Meeting
    def __init__(self, meeting: _Optional[_Union[Meeting, _Mapping]] = ...) -> None: ...

class JoinMeetingRequest(_message.Message):
    __slots__ = ("name", "passcode", "display_name", "wait_for_admission")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PASSCODE_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    WAIT_FOR_ADMISSION_FIELD_NUMBER: _ClassVar[int]
    name: str
    passcode: str
    display_name: str
    wait_for_admission: bool
    def __init__(self, name: _Optional[str] = ..., passcode: _Optional[str] = ..., display_name: _Optional[str] = ..., wait_for_admission: _Optional[bool] = ...) -> None: ...

class JoinMeetingResponse(_message.Message):
    __slots__ = ("meeting", "participant", "join_token", "join_token_expire_time", "signaling_address", "signaling_websocket_path")
    MEETING_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANT_FIELD_NUMBER: _ClassVar[int]
    JOIN_TOKEN_FIELD_NUMBER: _ClassVar[int]
    JOIN_TOKEN_EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    SIGNALING_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    SIGNALING_WEBSOCKET_PATH_FIELD_NUMBER: _ClassVar[int]
    meeting: Meeting
    participant: Participant
    join_token: str
    join_token_expire_time: _timestamp_pb2.Timestamp
    signaling_address: str
    signaling_websocket_path: str
    def __init__(self, meeting: _Optional[_Union[Meeting, _Mapping]] = ..., participant: _Optional[_Union[Participant, _Mapping]] = ..., join_token: _Optional[str] = ..., join_token_expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., signaling_address: _Optional[str] = ..., signaling_websocket_path: _Optional[str] = ...) -> None: ...

class LeaveMeetingRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class LeaveMeetingResponse(_message.Message):
    __slots__ = ("participant",)
    PARTICIPANT_FIELD_NUMBER: _ClassVar[int]
    participant: Participant
    def __init__(self, participant: _Optional[_Union[Participant, _Mapping]] = ...) -> None: ...

class GetParticipantRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetParticipantResponse(_message.Message):
    __slots__ = ("participant",)
    PARTICIPANT_FIELD_NUMBER: _ClassVar[int]
    participant: Participant
    def __init__(self, participant: _Optional[_Union[Participant, _Mapping]] = ...) -> None: ...

class ListParticipantsRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token", "state")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    state: Participant.State
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., state: _Optional[_Union[Participant.State, str]] = ...) -> None: ...

class ListParticipantsResponse(_message.Message):
    __slots__ = ("participants", "next_page_token")
    PARTICIPANTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    participants: _containers.RepeatedCompositeFieldContainer[Participant]
    next_page_token: str
    def __init__(self, participants: _Optional[_Iterable[_Union[Participant, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class AdmitParticipantRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class AdmitParticipantResponse(_message.Message):
    __slots__ = ("participant",)
    PARTICIPANT_FIELD_NUMBER: _ClassVar[int]
    participant: Participant
    def __init__(self, participant: _Optional[_Union[Participant, _Mapping]] = ...) -> None: ...

class DenyParticipantRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DenyParticipantResponse(_message.Message):
    __slots__ = ("participant",)
    PARTICIPANT_FIELD_NUMBER: _ClassVar[int]
    participant: Participant
    def __init__(self, participant: _Optional[_Union[Participant, _Mapping]] = ...) -> None: ...

class UpdateParticipantRequest(_message.Message):
    __slots__ = ("participant", "update_mask")
    PARTICIPANT_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    participant: Participant
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, participant: _Optional[_Union[Participant, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateParticipantResponse(_message.Message):
    __slots__ = ("participant",)
    PARTICIPANT_FIELD_NUMBER: _ClassVar[int]
    participant: Participant
    def __init__(self, participant: _Optional[_Union[Participant, _Mapping]] = ...) -> None: ...

class RemoveParticipantRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class RemoveParticipantResponse(_message.Message):
    __slots__ = ("participant",)
    PARTICIPANT_FIELD_NUMBER: _ClassVar[int]
    participant: Participant
    def __init__(self, participant: _Optional[_Union[Participant, _Mapping]] = ...) -> None: ...

class CreateInvitationRequest(_message.Message):
    __slots__ = ("parent", "invitation")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    INVITATION_FIELD_NUMBER: _ClassVar[int]
    parent: str
    invitation: Invitation
    def __init__(self, parent: _Optional[str] = ..., invitation: _Optional[_Union[Invitation, _Mapping]] = ...) -> None: ...

class CreateInvitationResponse(_message.Message):
    __slots__ = ("invitation",)
    INVITATION_FIELD_NUMBER: _ClassVar[int]
    invitation: Invitation
    def __init__(self, invitation: _Optional[_Union[Invitation, _Mapping]] = ...) -> None: ...

class ListInvitationsRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListInvitationsResponse(_message.Message):
    __slots__ = ("invitations", "next_page_token")
    INVITATIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    invitations: _containers.RepeatedCompositeFieldContainer[Invitation]
    next_page_token: str
    def __init__(self, invitations: _Optional[_Iterable[_Union[Invitation, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListRecordingsRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListRecordingsResponse(_message.Message):
    __slots__ = ("recordings", "next_page_token")
    RECORDINGS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    recordings: _containers.RepeatedCompositeFieldContainer[Recording]
    next_page_token: str
    def __init__(self, recordings: _Optional[_Iterable[_Union[Recording, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class WatchRecordingProgressRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class RecordingProgress(_message.Message):
    __slots__ = ("state", "fraction", "attempts", "error")
    class State(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATE_UNSPECIFIED: _ClassVar[RecordingProgress.State]
        STATE_QUEUED: _ClassVar[RecordingProgress.State]
        STATE_RUNNING: _ClassVar[RecordingProgress.State]
        STATE_DONE: _ClassVar[RecordingProgress.State]
        STATE_FAILED: _ClassVar[RecordingProgress.State]
    STATE_UNSPECIFIED: RecordingProgress.State
    STATE_QUEUED: RecordingProgress.State
    STATE_RUNNING: RecordingProgress.State
    STATE_DONE: RecordingProgress.State
    STATE_FAILED: RecordingProgress.State
    STATE_FIELD_NUMBER: _ClassVar[int]
    FRACTION_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    state: RecordingProgress.State
    fraction: float
    attempts: int
    error: str
    def __init__(self, state: _Optional[_Union[RecordingProgress.State, str]] = ..., fraction: _Optional[float] = ..., attempts: _Optional[int] = ..., error: _Optional[str] = ...) -> None: ...

class WatchRecordingProgressResponse(_message.Message):
    __slots__ = ("progress", "recording")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    RECORDING_FIELD_NUMBER: _ClassVar[int]
    progress: RecordingProgress
    recording: Recording
    def __init__(self, progress: _Optional[_Union[RecordingProgress, _Mapping]] = ..., recording: _Optional[_Union[Recording, _Mapping]] = ...) -> None: ...

class GetRecordingPlaylistRequest(_message.Message):
    __slots__ = ("name", "participant")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANT_FIELD_NUMBER: _ClassVar[int]
    name: str
    participant: str
    def __init__(self, name: _Optional[str] = ..., participant: _Optional[str] = ...) -> None: ...

class GetRecordingPlaylistResponse(_message.Message):
    __slots__ = ("playlist",)
    PLAYLIST_FIELD_NUMBER: _ClassVar[int]
    playlist: str
    def __init__(self, playlist: _Optional[str] = ...) -> None: ...

class CreateAttachmentRequest(_message.Message):
    __slots__ = ("parent", "attachment")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    ATTACHMENT_FIELD_NUMBER: _ClassVar[int]
    parent: str
    attachment: Attachment
    def __init__(self, parent: _Optional[str] = ..., attachment: _Optional[_Union[Attachment, _Mapping]] = ...) -> None: ...

class CreateAttachmentResponse(_message.Message):
    __slots__ = ("attachment", "upload_uri", "upload_expire_time")
    ATTACHMENT_FIELD_NUMBER: _ClassVar[int]
    UPLOAD_URI_FIELD_NUMBER: _ClassVar[int]
    UPLOAD_EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    attachment: Attachment
    upload_uri: str
    upload_expire_time: _timestamp_pb2.Timestamp
    def __init__(self, attachment: _Optional[_Union[Attachment, _Mapping]] = ..., upload_uri: _Optional[str] = ..., upload_expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CommitAttachmentRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class CommitAttachmentResponse(_message.Message):
    __slots__ = ("attachment",)
    ATTACHMENT_FIELD_NUMBER: _ClassVar[int]
    attachment: Attachment
    def __init__(self, attachment: _Optional[_Union[Attachment, _Mapping]] = ...) -> None: ...

class GetAttachmentRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetAttachmentResponse(_message.Message):
    __slots__ = ("attachment",)
    ATTACHMENT_FIELD_NUMBER: _ClassVar[int]
    attachment: Attachment
    def __init__(self, attachment: _Optional[_Union[Attachment, _Mapping]] = ...) -> None: ...

class ListAttachmentsRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListAttachmentsResponse(_message.Message):
    __slots__ = ("attachments", "next_page_token")
    ATTACHMENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    attachments: _containers.RepeatedCompositeFieldContainer[Attachment]
    next_page_token: str
    def __init__(self, attachments: _Optional[_Iterable[_Union[Attachment, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteAttachmentRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DeleteAttachmentResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
