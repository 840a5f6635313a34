"""Request validation with protovalidate, mapped to INVALID_ARGUMENT with one violation per field."""

from __future__ import annotations

from typing import Any

import protovalidate
from google.protobuf.message import Message

from .errors import InvalidArgument


def _field_path(violation: Any) -> str:
    parts: list[str] = []
    for element in violation.proto.field.elements:
        name = element.field_name
        # protovalidate's own message types: a oneof is an object with .field and .value.
        subscript = element.subscript
        if subscript is not None:
            name = f"{name}[{subscript.value}]"
        parts.append(name)
    return ".".join(parts)


def validate(message: Message) -> None:
    """Raise ``InvalidArgument`` listing every rule ``message`` breaks."""
    try:
        protovalidate.validate(message)
    except protovalidate.ValidationError as exc:
        raise InvalidArgument((_field_path(v), v.proto.message) for v in exc.violations) from None


def require(field: str, present: bool, what: str = "is required") -> None:
    """A check protovalidate cannot express (for example, required only on create)."""
    if not present:
        raise InvalidArgument([(field, what)])
