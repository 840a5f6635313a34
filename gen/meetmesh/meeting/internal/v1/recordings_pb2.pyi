from buf.validate import validate_pb2 as _validate_pb2
from meetmesh.meeting.v1 import meeting_pb2 as _meeting_pb2
from meetmesh.options.v1 import options_pb2 as _options_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CreateRecordingRequest(_message.Message):
    __slots__ = ("parent", "recording")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    RECORDING_FIELD_NUMBER: _ClassVar[int]
    parent: str
    recording: _meeting_pb2.Recording
    def __init__(self, parent: _Optional[str] = ..., recording: _Optional[_Union[_meeting_pb2.Recording, _Mapping]] = ...) -> None: ...

class CreateRecordingResponse(_message.Message):
    __slots__ = ("recording",)
    RECORDING_FIELD_NUMBER: _ClassVar[int]
    recording: _meeting_pb2.Recording
    def __init__(self, recording: _Optional[_Union[_meeting_pb2.Recording, _Mapping]] = ...) -> None: ...

class SetRecordingRenditionsRequest(_message.Message):
    __slots__ = ("name", "renditions")
    NAME_FIELD_NUMBER: _ClassVar[int]
    RENDITIONS_FIELD_NUMBER: _ClassVar[int]
    name: str
    renditions: _containers.RepeatedCompositeFieldContainer[_meeting_pb2.RecordingRendition]
    def __init__(self, name: _Optional[str] = ..., renditions: _Optional[_Iterable[_Union[_meeting_pb2.RecordingRendition, _Mapping]]] = ...) -> None: ...

class SetRecordingRenditionsResponse(_message.Message):
    __slots__ = ("recording",)
    RECORDING_FIELD_NUMBER: _ClassVar[int]
    recording: _meeting_pb2.Recording
    def __init__(self, recording: _Optional[_Union[_meeting_pb2.Recording, _Mapping]] = ...) -> None: ...
