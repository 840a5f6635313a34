from buf.validate import validate_pb2 as _validate_pb2
from meetmesh.options.v1 import options_pb2 as _options_pb2
from meetmesh.user.v1 import user_pb2 as _user_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class LookupUserRequest(_message.Message):
    __slots__ = ("user", "email")
    USER_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    user: str
    email: str
    def __init__(self, user: _Optional[str] = ..., email: _Optional[str] = ...) -> None: ...

class LookupUserResponse(_message.Message):
    __slots__ = ("user", "email", "display_name", "state", "role")
    USER_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    user: str
    email: str
    display_name: str
    state: _user_pb2.User.State
    role: _user_pb2.User.Role
    def __init__(self, user: _Optional[str] = ..., email: _Optional[str] = ..., display_name: _Optional[str] = ..., state: _Optional[_Union[_user_pb2.User.State, str]] = ..., role: _Optional[_Union[_user_pb2.User.Role, str]] = ...) -> None: ...
