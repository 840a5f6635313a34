from meetmesh.options.v1 import options_pb2 as _options_pb2
from meetmesh.signaling.v1 import signaling_pb2 as _signaling_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RoomMessage(_message.Message):
    __slots__ = ("meeting", "event", "to", "skip", "close", "reason", "keep_epoch", "expire", "expire_epoch")
    MEETING_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    TO_FIELD_NUMBER: _ClassVar[int]
    SKIP_FIELD_NUMBER: _ClassVar[int]
    CLOSE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    KEEP_EPOCH_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_EPOCH_FIELD_NUMBER: _ClassVar[int]
    meeting: str
    event: _signaling_pb2.SignalResponse
    to: _containers.RepeatedScalarFieldContainer[str]
    skip: str
    close: str
    reason: str
    keep_epoch: str
    expire: str
    expire_epoch: str
    def __init__(self, meeting: _Optional[str] = ..., event: _Optional[_Union[_signaling_pb2.SignalResponse, _Mapping]] = ..., to: _Optional[_Iterable[str]] = ..., skip: _Optional[str] = ..., close: _Optional[str] = ..., reason: _Optional[str] = ..., keep_epoch: _Optional[str] = ..., expire: _Optional[str] = ..., expire_epoch: _Optional[str] = ...) -> None: ...
