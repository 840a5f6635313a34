"""Meeting invitations as iCalendar (RFC 5545) ``.ics`` attachments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_DEFAULT_LENGTH = timedelta(hours=1)


def _escape(value: str) -> str:
    """A TEXT value (RFC 5545 3.3.11): backslash, semicolon, comma and newlines escaped."""
    value = value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    value = value.replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n")
    return "".join(ch for ch in value if ch >= " " or ch == "\t")


def _fold(line: str) -> str:
    """Fold a content line at 75 octets (RFC 5545 3.1), never inside a UTF-8 sequence."""
    out: list[str] = []
    current = ""
    size = 0
    for ch in line:
        width = len(ch.encode())
        if size + width > 75:
            out.append(current)
            current, size = " ", 1
        current += ch
        size += width
    out.append(current)
    return "\r\n".join(out)


def _stamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def invitation_ics(
    *,
    uid: str,
    title: str,
    description: str,
    url: str,
    start: datetime,
    end: datetime | None,
    organizer_email: str = "",
    attendee_email: str = "",
    now: datetime | None = None,
) -> bytes:
    """A ``METHOD:REQUEST`` calendar with one event."""
    now = now or datetime.now(UTC)
    end = end if end is not None and end > start else start + _DEFAULT_LENGTH
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//meetmesh//notification//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:REQUEST",
        "BEGIN:VEVENT",
        f"UID:{_escape(uid)}",
        f"DTSTAMP:{_stamp(now)}",
        f"DTSTART:{_stamp(start)}",
        f"DTEND:{_stamp(end)}",
        f"SUMMARY:{_escape(title)}",
        f"DESCRIPTION:{_escape((description + chr(10) + chr(10) if description else '') + url)}",
        f"URL:{_escape(url)}",
        f"LOCATION:{_escape(url)}",
    ]
    if organizer_email:
        lines.append(f"ORGANIZER:mailto:{organizer_email}")
    if attendee_email:
        lines.append(f"ATTENDEE;ROLE=REQ-PARTICIPANT;RSVP=FALSE:mailto:{attendee_email}")
    lines += ["STATUS:CONFIRMED", "SEQUENCE:0", "END:VEVENT", "END:VCALENDAR"]
    return ("\r\n".join(_fold(line) for line in lines) + "\r\n").encode()
