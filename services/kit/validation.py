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


def _nul_strings(message: Message, prefix: str = "") -> list[str]:
    """Paths of string fields holding U+0000 (no store keeps it: PostgreSQL refuses it in text)."""
    found: list[str] = []
    for field, value in message.ListFields():
        path = prefix + field.name
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            for key, item in value.items():
                if any(isinstance(v, str) and "\x00" in v for v in (key, item)):
                    found.append(f"{path}[{key!r}]")
                elif isinstance(item, Message):
                    found.extend(_nul_strings(item, f"{path}[{key!r}]."))
            continue
        items = value if field.is_repeated else [value]
        for i, item in enumerate(items):
            where = f"{path}[{i}]" if field.is_repeated else path
            if isinstance(item, str) and "\x00" in item:
                found.append(where)
            elif isinstance(item, Message):
                found.extend(_nul_strings(item, where + "."))
    return found


def validate(message: Message) -> None:
    """Raise ``InvalidArgument`` listing every rule ``message`` breaks (and every string holding
    U+0000, which no store accepts)."""
    violations: list[tuple[str, str]] = [(path, "must not contain U+0000") for path in _nul_strings(message)]
    try:
        protovalidate.validate(message)
    except protovalidate.ValidationError as exc:
        violations.extend((_field_path(v), v.proto.message) for v in exc.violations)
    if violations:
        raise InvalidArgument(violations)


def require(field: str, present: bool, what: str = "is required") -> None:
    """A check protovalidate cannot express (for example, required only on create)."""
    if not present:
        raise InvalidArgument([(field, what)])
