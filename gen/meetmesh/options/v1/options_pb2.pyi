from google.protobuf import descriptor_pb2 as _descriptor_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Caller(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CALLER_UNSPECIFIED: _ClassVar[Caller]
    CALLER_ANONYMOUS: _ClassVar[Caller]
    CALLER_USER: _ClassVar[Caller]
    CALLER_PARTICIPANT: _ClassVar[Caller]
    CALLER_SERVICE: _ClassVar[Caller]
    CALLER_ADMIN: _ClassVar[Caller]

class Sensitivity(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SENSITIVITY_UNSPECIFIED: _ClassVar[Sensitivity]
    SENSITIVITY_PERSONAL: _ClassVar[Sensitivity]
    SENSITIVITY_SECRET: _ClassVar[Sensitivity]
CALLER_UNSPECIFIED: Caller
CALLER_ANONYMOUS: Caller
CALLER_USER: Caller
CALLER_PARTICIPANT: Caller
CALLER_SERVICE: Caller
CALLER_ADMIN: Caller
SENSITIVITY_UNSPECIFIED: Sensitivity
SENSITIVITY_PERSONAL: Sensitivity
SENSITIVITY_SECRET: Sensitivity
ACCESS_FIELD_NUMBER: _ClassVar[int]
access: _descriptor.FieldDescriptor
SENSITIVITY_FIELD_NUMBER: _ClassVar[int]
sensitivity: _descriptor.FieldDescriptor
CHANNEL_FIELD_NUMBER: _ClassVar[int]
channel: _descriptor.FieldDescriptor
STREAM_FIELD_NUMBER: _ClassVar[int]
stream: _descriptor.FieldDescriptor

class Access(_message.Message):
    __slots__ = ("caller", "grant", "join_token_in_stream", "services")
    CALLER_FIELD_NUMBER: _ClassVar[int]
    GRANT_FIELD_NUMBER: _ClassVar[int]
    JOIN_TOKEN_IN_STREAM_FIELD_NUMBER: _ClassVar[int]
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    caller: Caller
    grant: str
    join_token_in_stream: bool
    services: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, caller: _Optional[_Union[Caller, str]] = ..., grant: _Optional[str] = ..., join_token_in_stream: _Optional[bool] = ..., services: _Optional[_Iterable[str]] = ...) -> None: ...
