import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from meetmesh.options.v1 import options_pb2 as _options_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class UserEvent(_message.Message):
    __slots__ = ("user", "time", "email", "display_name", "registered", "password_reset_requested", "refresh_token_reused", "signed_in", "profile_updated")
    USER_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    REGISTERED_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_RESET_REQUESTED_FIELD_NUMBER: _ClassVar[int]
    REFRESH_TOKEN_REUSED_FIELD_NUMBER: _ClassVar[int]
    SIGNED_IN_FIELD_NUMBER: _ClassVar[int]
    PROFILE_UPDATED_FIELD_NUMBER: _ClassVar[int]
    user: str
    time: _timestamp_pb2.Timestamp
    email: str
    display_name: str
    registered: Registered
    password_reset_requested: PasswordResetRequested
    refresh_token_reused: RefreshTokenReused
    signed_in: SignedIn
    profile_updated: ProfileUpdated
    def __init__(self, user: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., email: _Optional[str] = ..., display_name: _Optional[str] = ..., registered: _Optional[_Union[Registered, _Mapping]] = ..., password_reset_requested: _Optional[_Union[PasswordResetRequested, _Mapping]] = ..., refresh_token_reused: _Optional[_Union[RefreshTokenReused, _Mapping]] = ..., signed_in: _Optional[_Union[SignedIn, _Mapping]] = ..., profile_updated: _Optional[_Union[ProfileUpdated, _Mapping]] = ...) -> None: ...

class Registered(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PasswordResetRequested(_message.Message):
    __slots__ = ("token", "expire_time")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    token: str
    expire_time: _timestamp_pb2.Timestamp
    def __init__(self, token: _Optional[str] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RefreshTokenReused(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SignedIn(_message.Message):
    __slots__ = ("client_address",)
    CLIENT_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    client_address: str
    def __init__(self, client_address: _Optional[str] = ...) -> None: ...

class ProfileUpdated(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Revocation(_message.Message):
    __slots__ = ("session", "user")
    SESSION_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    session: str
    user: str
    def __init__(self, session: _Optional[str] = ..., user: _Optional[str] = ...) -> None: ...
