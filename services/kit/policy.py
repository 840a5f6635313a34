"""Policy read from the contract (``meetmesh.options.v1``): who may call a method, what is sensitive.

Every RPC declares ``(meetmesh.options.v1.access)`` and every personal or secret field
``(meetmesh.options.v1.sensitivity)``. The kit's admission, the edge, the OpenAPI and Envoy
generators, the API reference and log redaction all ask this module, so nothing else in the code
lists methods or guesses which data is personal.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from google.protobuf import descriptor, descriptor_pool
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from meetmesh.options.v1 import options_pb2

ANONYMOUS = options_pb2.CALLER_ANONYMOUS
USER = options_pb2.CALLER_USER
PARTICIPANT = options_pb2.CALLER_PARTICIPANT
SERVICE = options_pb2.CALLER_SERVICE
ADMIN = options_pb2.CALLER_ADMIN
UNSPECIFIED = options_pb2.CALLER_UNSPECIFIED

PERSONAL = options_pb2.SENSITIVITY_PERSONAL
SECRET = options_pb2.SENSITIVITY_SECRET

#: Infrastructure services every host serves to anyone (health checks, reflection).
_INFRASTRUCTURE = (
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1.ServerReflection/",
    "/grpc.reflection.v1alpha.ServerReflection/",
)


@dataclass(frozen=True)
class MethodPolicy:
    """The ``access`` option of one method."""

    path: str  # "/meetmesh.user.v1.UserService/Login"
    caller: int = UNSPECIFIED  # an options_pb2.Caller value
    grant: str = ""
    join_token_in_stream: bool = False
    services: frozenset[str] = frozenset()

    @property
    def caller_name(self) -> str:
        """ "anonymous", "user", "participant", "service", "admin" or "unspecified"."""
        return str(options_pb2.Caller.Name(self.caller)).removeprefix("CALLER_").lower()

    @property
    def anonymous(self) -> bool:
        return self.caller == ANONYMOUS

    @property
    def internal(self) -> bool:
        """Only other meetmesh services may call it (never routed by the edge)."""
        return self.caller == SERVICE

    @property
    def needs_access_token(self) -> bool:
        """Whether the call itself must carry a user's access token."""
        if self.caller == PARTICIPANT:
            return not self.join_token_in_stream
        return self.caller in (USER, ADMIN)

    def describe(self) -> str:
        """One line for people (the API reference)."""
        if self.caller == PARTICIPANT:
            who = "a participant of the meeting"
            if self.grant:
                who += f" holding the `{self.grant}` grant"
            return who + (" (join token in the stream)" if self.join_token_in_stream else "")
        return _WHO.get(int(self.caller), "nobody (no policy declared)")


_WHO: dict[int, str] = {
    ANONYMOUS: "anyone (no token)",
    USER: "a signed-in user",
    ADMIN: "an admin",
    SERVICE: "meetmesh services only",
}


def infrastructure(path: str) -> bool:
    """Health and reflection: served to anyone by every host, outside the contract."""
    return path.startswith(_INFRASTRUCTURE)


def internal_package(package: str) -> bool:
    """`meetmesh.<svc>.internal.v1` packages hold services only other services may call."""
    return "internal" in package.split(".")


def method_path(method: descriptor.MethodDescriptor) -> str:
    return f"/{method.containing_service.full_name}/{method.name}"


def method_policy(method: descriptor.MethodDescriptor) -> MethodPolicy:
    """The declared policy of a method (UNSPECIFIED when it declares none)."""
    options = method.GetOptions()
    path = method_path(method)
    if not options.HasExtension(options_pb2.access):
        return MethodPolicy(path)
    access: options_pb2.Access = options.Extensions[options_pb2.access]
    return MethodPolicy(
        path=path,
        caller=access.caller,
        grant=access.grant,
        join_token_in_stream=access.join_token_in_stream,
        services=frozenset(access.services),
    )


def policy_for_path(path: str, pool: descriptor_pool.DescriptorPool | None = None) -> MethodPolicy:
    """The policy of `/package.Service/Method`; infrastructure methods are anonymous."""
    if infrastructure(path):
        return MethodPolicy(path, ANONYMOUS)
    service, _, name = path[1:].partition("/")
    try:
        method = (pool or descriptor_pool.Default()).FindMethodByName(f"{service}.{name}")
    except KeyError:
        return MethodPolicy(path)
    return method_policy(method)


def all_methods(pool: descriptor_pool.DescriptorPool, files: list[str]) -> Iterator[MethodPolicy]:
    """Every method's policy in the named files of ``pool``."""
    for name in files:
        for service in pool.FindFileByName(name).services_by_name.values():
            for method in service.methods:
                yield method_policy(method)


# -- sensitivity and redaction ------------------------------------------------------------------
def sensitivity(field: FieldDescriptor) -> int:
    """The field's ``sensitivity`` option (0 when ordinary)."""
    options = field.GetOptions()
    if not options.HasExtension(options_pb2.sensitivity):
        return 0
    return int(options.Extensions[options_pb2.sensitivity])


_MASK: dict[int, str] = {PERSONAL: "[personal]", SECRET: "[secret]"}
_SENSITIVE_CACHE: dict[str, dict[str, int]] = {}


def sensitive_fields(message_type: descriptor.Descriptor) -> dict[str, int]:
    """Field name -> sensitivity for the message's own sensitive fields."""
    cached = _SENSITIVE_CACHE.get(message_type.full_name)
    if cached is None:
        cached = {f.name: s for f in message_type.fields if (s := sensitivity(f))}
        _SENSITIVE_CACHE[message_type.full_name] = cached
    return cached


def _value(field: FieldDescriptor, value: Any) -> Any:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return redacted(value)
    if field.type == FieldDescriptor.TYPE_ENUM:
        enum_value = field.enum_type.values_by_number.get(value)
        return enum_value.name if enum_value is not None else value
    if field.type == FieldDescriptor.TYPE_BYTES:
        return f"<{len(value)} bytes>"
    return value


def redacted(message: Message) -> dict[str, Any]:
    """The message's set fields as a dict for logs, sensitive values replaced by their kind.

    A personal field reads "[personal]" and a secret one "[secret]", at any depth; bytes show
    only their length.
    """
    sensitive = sensitive_fields(message.DESCRIPTOR)
    out: dict[str, Any] = {}
    for field, value in message.ListFields():
        kind = sensitive.get(field.name)
        if kind:
            out[field.name] = _MASK[kind]
        elif (
            field.is_repeated and field.message_type is not None and field.message_type.GetOptions().map_entry
        ):
            value_field = field.message_type.fields_by_name["value"]
            out[field.name] = {k: _value(value_field, v) for k, v in value.items()}
        elif field.is_repeated:
            out[field.name] = [_value(field, v) for v in value]
        else:
            out[field.name] = _value(field, value)
    return out
