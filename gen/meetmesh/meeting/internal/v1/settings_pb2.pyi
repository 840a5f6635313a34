from buf.validate import validate_pb2 as _validate_pb2
from meetmesh.meeting.v1 import meeting_pb2 as _meeting_pb2
from meetmesh.options.v1 import options_pb2 as _options_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetMeetingSettingsRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetMeetingSettingsResponse(_message.Message):
    __slots__ = ("settings",)
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    settings: _meeting_pb2.MeetingSettings
    def __init__(self, settings: _Optional[_Union[_meeting_pb2.MeetingSettings, _Mapping]] = ...) -> None: ...
