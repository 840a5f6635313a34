"""Events as protos, on the channels the contract names: encoded and decoded here and nowhere else.

An event message declares its pub/sub channel with ``option (meetmesh.options.v1.channel)``, a
template such as ``"{prefix}:meeting:events:{meeting}"``: ``{prefix}`` is the platform's Redis key
prefix and every other ``{name}`` a field of the event. Publishers call :func:`channel_of` and
:func:`encode`; subscribers pattern-subscribe to :func:`channel_pattern` and call :func:`decode`.
"""

from __future__ import annotations

import re
from typing import TypeVar

from google.protobuf import descriptor
from google.protobuf.message import DecodeError, Message

from meetmesh.meeting.events.v1 import events_pb2
from meetmesh.options.v1 import options_pb2

E = TypeVar("E", bound=Message)
_FIELD = re.compile(r"\{(\w+)\}")


def channel_template(event_type: descriptor.Descriptor) -> str:
    """The event message's ``channel`` option; a type without one is not an event."""
    options = event_type.GetOptions()
    if not options.HasExtension(options_pb2.channel):
        raise ValueError(f"{event_type.full_name} declares no channel")
    return str(options.Extensions[options_pb2.channel])


def channel_of(event: Message, prefix: str) -> str:
    """The channel ``event`` is published on."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        return prefix if name == "prefix" else str(getattr(event, name))

    return _FIELD.sub(value, channel_template(event.DESCRIPTOR))


def channel_pattern(event_type: type[Message], prefix: str) -> str:
    """A Redis PSUBSCRIBE pattern matching every channel of ``event_type``."""
    template = channel_template(event_type.DESCRIPTOR)
    return _FIELD.sub(lambda m: prefix if m.group(1) == "prefix" else "*", template)


def matches(event_type: type[Message], prefix: str, channel: str) -> bool:
    """Whether ``channel`` is one of ``event_type``'s channels."""
    template = channel_template(event_type.DESCRIPTOR)
    parts = _FIELD.split(template)
    regex = "".join(
        re.escape(part) if i % 2 == 0 else (re.escape(prefix) if part == "prefix" else "[^:]+")
        for i, part in enumerate(parts)
    )
    return re.fullmatch(regex, channel) is not None


def encode(event: Message) -> bytes:
    data: bytes = event.SerializeToString()
    return data


def decode(event_type: type[E], data: bytes) -> E | None:
    """The event in ``data``, or None when it is not one (logged by the caller if it cares)."""
    try:
        event: E = event_type.FromString(data)
    except DecodeError:
        return None
    return event


def meeting_event(meeting: str, **event: Message) -> events_pb2.MeetingEvent:
    """A ``MeetingEvent`` about ``meeting`` (an id), stamped now: ``meeting_event(m, meeting_ended=...)``."""
    message = events_pb2.MeetingEvent(meeting=meeting, **event)
    message.time.GetCurrentTime()
    return message


__all__ = [
    "channel_of",
    "channel_pattern",
    "channel_template",
    "decode",
    "encode",
    "matches",
    "meeting_event",
]
