"""``meetmesh meetings|participants|recordings|transcripts ...``: the meeting service and the
transcripts of the ai service, through the edge."""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import click
import httpx
from google.protobuf.field_mask_pb2 import FieldMask
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from meetmesh.ai.v1 import ai_pb2
from meetmesh.meeting.v1 import meeting_pb2 as pb

from .app import (
    as_json,
    async_command,
    enum_word,
    example,
    fields,
    group,
    options,
    print_json,
    resource,
    table,
    when,
)
from .errors import EXIT_INVALID, EXIT_NOT_FOUND, EXIT_UNAVAILABLE, CliError
from .session import Session

ROLES = {"co-host": pb.ROLE_CO_HOST, "participant": pb.ROLE_PARTICIPANT, "viewer": pb.ROLE_VIEWER}
STATES = {
    "waiting": pb.Participant.STATE_WAITING,
    "admitted": pb.Participant.STATE_ADMITTED,
    "denied": pb.Participant.STATE_DENIED,
    "removed": pb.Participant.STATE_REMOVED,
    "left": pb.Participant.STATE_LEFT,
}


class IsoTime(click.ParamType):  # type: ignore[type-arg]
    """A local date and time in ISO 8601 (``2026-12-02T09:00``, ``2026-12-02 09:00+01:00``)."""

    name = "ISO-TIME"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            return datetime.fromisoformat(str(value))
        except ValueError:
            self.fail(f"{value!r} is not a date and time such as 2026-12-02T09:00", param, ctx)


def _timestamp(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(value.astimezone())
    return stamp


def _meeting_record(m: pb.Meeting) -> list[tuple[str, str]]:
    return [
        ("name", m.name),
        ("title", m.title),
        ("state", enum_word(m, "state")),
        ("host", m.host),
        ("starts", when(m.start_time)),
        ("ends", when(m.end_time)),
        ("passcode", "yes" if m.passcode_protected else "no"),
        ("lobby", "yes" if m.lobby_enabled else "no"),
        ("capacity", str(m.capacity)),
        ("participants", str(m.participant_count)),
        ("recording allowed", "yes" if m.settings.recording_allowed else "no"),
        ("ai", "yes" if m.settings.ai_enabled else "no"),
        ("created", when(m.create_time)),
    ]


def _show_meeting(m: pb.Meeting, reply: Message) -> None:
    if options().json:
        print_json(reply)
    else:
        fields([(k, v) for k, v in _meeting_record(m) if v != ""])


def _meeting_fields(f: Callable[..., Any]) -> Callable[..., Any]:
    """The options that set a meeting's fields (create and update share them)."""
    for decorator in reversed(
        [
            click.option("--description", help="a longer description"),
            click.option(
                "--start", type=IsoTime(), help="scheduled start, e.g. 2026-12-02T09:00 (local time)"
            ),
            click.option("--end", type=IsoTime(), help="scheduled end (local time)"),
            click.option("--passcode", help="a passcode to join (4 to 64 characters)"),
            click.option("--lobby/--no-lobby", default=None, help="joiners wait until a host admits them"),
            click.option("--capacity", type=int, help="most participants at once (0: 100)"),
            click.option("--ai/--no-ai", default=None, help="live captions and other AI features"),
            click.option("--recording/--no-recording", default=None, help="allow recording"),
        ]
    ):
        f = decorator(f)
    return f


def _apply(meeting: pb.Meeting, given: dict[str, object]) -> list[str]:
    """Sets the given options on ``meeting``; returns the update mask's paths."""
    paths: list[str] = []
    simple = {"title": "title", "description": "description", "passcode": "passcode", "capacity": "capacity"}
    for option, field in simple.items():
        if given.get(option) is not None:
            setattr(meeting, field, given[option])
            paths.append(field)
    if given.get("lobby") is not None:
        meeting.lobby_enabled = bool(given["lobby"])
        paths.append("lobby_enabled")
    for option, field in (("start", "start_time"), ("end", "end_time")):
        stamp = _timestamp(given.get(option))  # type: ignore[arg-type]
        if stamp is not None:
            getattr(meeting, field).CopyFrom(stamp)
            paths.append(field)
    if given.get("ai") is not None or given.get("recording") is not None:
        paths.append("settings")
        if given.get("ai") is not None:
            meeting.settings.ai_enabled = bool(given["ai"])
        if given.get("recording") is not None:
            meeting.settings.recording_allowed = bool(given["recording"])
    return paths


@group()
@example("meetmesh meetings create --title Standup", "meetmesh meetings list")
def meetings() -> None:
    """Meetings: create, list, get, update, end, invite, join."""


@meetings.command()
@click.option("--title", required=True, help="the meeting's title")
@_meeting_fields
@example(
    "meetmesh meetings create --title Standup",
    'meetmesh meetings create --title "Board review" --passcode 4711 --lobby --start 2026-12-02T09:00',
    "NAME=$(meetmesh meetings create --title Standup --json | jq -r .meeting.name)",
)
@async_command
async def create(session: Session, **given: object) -> None:
    """Create a meeting hosted by you."""
    meeting = pb.Meeting()
    _apply(meeting, given)
    if given.get("ai") is None and given.get("recording") is None:
        meeting.ClearField("settings")
    reply = await session.call(
        session.meetings.CreateMeeting,
        pb.CreateMeetingRequest(meeting=meeting, request_id=str(uuid.uuid4())),
    )
    _show_meeting(reply.meeting, reply)


@meetings.command("list")
@click.option("--page-size", type=int, default=50, show_default=True)
@click.option("--page-token", default="", help="a next page token from an earlier list")
@example("meetmesh meetings list", "meetmesh meetings list --json | jq -r '.meetings[].name'")
@async_command
async def list_meetings(session: Session, page_size: int, page_token: str) -> None:
    """List the meetings you host, joined or are invited to, newest first."""
    reply = await session.call(
        session.meetings.ListMeetings, pb.ListMeetingsRequest(page_size=page_size, page_token=page_token)
    )
    if options().json:
        print_json(reply)
        return
    table(
        ["name", "title", "state", "starts", "participants"],
        [
            [m.name, m.title, enum_word(m, "state"), when(m.start_time), m.participant_count]
            for m in reply.meetings
        ],
    )
    if reply.next_page_token:
        click.echo(f"more: --page-token {reply.next_page_token}")


@meetings.command()
@click.argument("meeting")
@example("meetmesh meetings get meetings/6b1f2c", "meetmesh meetings get 6b1f2c --json")
@async_command
async def get(session: Session, meeting: str) -> None:
    """Show a meeting."""
    reply = await session.call(
        session.meetings.GetMeeting, pb.GetMeetingRequest(name=resource("meetings", meeting))
    )
    _show_meeting(reply.meeting, reply)


@meetings.command()
@click.argument("meeting")
@click.option("--title", help="the meeting's title")
@_meeting_fields
@example(
    'meetmesh meetings update meetings/6b1f2c --title "Standup (moved)" --start 2026-12-02T10:00',
    "meetmesh meetings update 6b1f2c --lobby --capacity 20",
)
@async_command
async def update(session: Session, meeting: str, **given: object) -> None:
    """Change a meeting: only the options given change (host and co-hosts)."""
    target = pb.Meeting(name=resource("meetings", meeting))
    paths = _apply(target, given)
    if not paths:
        raise CliError("nothing to change: give at least one option (see --help)", EXIT_INVALID)
    reply = await session.call(
        session.meetings.UpdateMeeting,
        pb.UpdateMeetingRequest(meeting=target, update_mask=FieldMask(paths=paths)),
    )
    _show_meeting(reply.meeting, reply)


@meetings.command()
@click.argument("meeting")
@example("meetmesh meetings end meetings/6b1f2c")
@async_command
async def end(session: Session, meeting: str) -> None:
    """End a meeting for everyone (host and co-hosts)."""
    reply = await session.call(
        session.meetings.EndMeeting, pb.EndMeetingRequest(name=resource("meetings", meeting))
    )
    if options().json:
        print_json(reply)
    else:
        click.echo(f"ended {reply.meeting.name}")


@meetings.command()
@click.argument("meeting")
@click.argument("emails", nargs=-1, required=True)
@example("meetmesh meetings invite meetings/6b1f2c grace@example.com alan@example.com")
@async_command
async def invite(session: Session, meeting: str, emails: tuple[str, ...]) -> None:
    """Invite people by email address (moderators)."""
    made = []
    for email in emails:
        reply = await session.call(
            session.meetings.CreateInvitation,
            pb.CreateInvitationRequest(
                parent=resource("meetings", meeting), invitation=pb.Invitation(email=email)
            ),
        )
        made.append(reply.invitation)
    if options().json:
        print_json({"invitations": [as_json(i) for i in made]})
        return
    table(["invitation", "email"], [[i.name, i.email] for i in made])


@meetings.command()
@click.argument("meeting")
@click.option("--passcode", default="", help="the meeting's passcode, if it has one")
@click.option("--display-name", default="", help="the name to show (default: your account's)")
@click.option("--wait", is_flag=True, help="wait in the lobby until a host admits or denies you")
@example(
    "meetmesh meetings join meetings/6b1f2c",
    "meetmesh meetings join 6b1f2c --passcode 4711 --wait --json | jq -r .joinToken",
)
@async_command
async def join(session: Session, meeting: str, passcode: str, display_name: str, wait: bool) -> None:
    """Join a meeting: prints your participant and a join token for signaling (``meetmesh bot``
    joins with media)."""
    reply = await session.call(
        session.meetings.JoinMeeting,
        pb.JoinMeetingRequest(
            name=resource("meetings", meeting),
            passcode=passcode,
            display_name=display_name,
            wait_for_admission=wait,
        ),
        deadline_s=600 if wait else None,
    )
    if options().json:
        print_json(reply)
        return
    fields(
        [
            ("meeting", reply.meeting.name),
            ("participant", reply.participant.name),
            ("state", enum_word(reply.participant, "state")),
            ("role", enum_word(reply.participant, "role")),
            ("signaling", reply.signaling_address),
            ("join token", reply.join_token or "(none while waiting)"),
        ]
    )


# --- participants -------------------------------------------------------------------------------


def participant_name(names: tuple[str, ...]) -> str:
    """``meetings/M/participants/P`` from itself, or from ``MEETING PARTICIPANT``."""
    if len(names) == 1 and "/participants/" in names[0]:
        return names[0]
    if len(names) == 2:
        return f"{resource('meetings', names[0])}/participants/{names[1].rsplit('/', 1)[-1]}"
    raise click.UsageError("give meetings/M/participants/P, or MEETING PARTICIPANT")


@group()
@example("meetmesh participants list meetings/6b1f2c --state waiting")
def participants() -> None:
    """Participants of a meeting: list, admit, deny, remove, role."""


@participants.command("list")
@click.argument("meeting")
@click.option("--state", type=click.Choice(list(STATES)), help="only participants in this state")
@example("meetmesh participants list meetings/6b1f2c", "meetmesh participants list 6b1f2c --state waiting")
@async_command
async def list_participants(session: Session, meeting: str, state: str | None) -> None:
    """List a meeting's participants in join order."""
    reply = await session.call(
        session.meetings.ListParticipants,
        pb.ListParticipantsRequest(
            parent=resource("meetings", meeting),
            state=STATES[state] if state else pb.Participant.STATE_UNSPECIFIED,
            page_size=500,
        ),
    )
    if options().json:
        print_json(reply)
        return
    table(
        ["name", "display name", "role", "state", "joined"],
        [
            [p.name, p.display_name, enum_word(p, "role"), enum_word(p, "state"), when(p.create_time)]
            for p in reply.participants
        ],
    )


def _moderation(verb: str, rpc: str, request_type: type, summary: str) -> None:
    @participants.command(verb)
    @click.argument("names", nargs=-1, required=True, metavar="PARTICIPANT")
    @example(
        f"meetmesh participants {verb} meetings/6b1f2c/participants/93ad0e",
        f"meetmesh participants {verb} 6b1f2c 93ad0e",
    )
    @async_command
    async def moderate(session: Session, names: tuple[str, ...]) -> None:
        reply = await session.call(getattr(session.meetings, rpc), request_type(name=participant_name(names)))
        if options().json:
            print_json(reply)
        else:
            p = reply.participant
            click.echo(f"{p.name} is now {enum_word(p, 'state')}")

    moderate.help = summary


_moderation(
    "admit", "AdmitParticipant", pb.AdmitParticipantRequest, "Admit a participant waiting in the lobby."
)
_moderation(
    "deny", "DenyParticipant", pb.DenyParticipantRequest, "Turn away a participant waiting in the lobby."
)
_moderation(
    "remove", "RemoveParticipant", pb.RemoveParticipantRequest, "Remove a participant (cannot rejoin)."
)


@participants.command()
@click.argument("names", nargs=-1, required=True, metavar="PARTICIPANT")
@click.option("--to", "role", type=click.Choice(list(ROLES)), required=True, help="the new role")
@example(
    "meetmesh participants role meetings/6b1f2c/participants/93ad0e --to co-host",
    "meetmesh participants role 6b1f2c 93ad0e --to viewer",
)
@async_command
async def role(session: Session, names: tuple[str, ...], role: str) -> None:
    """Change a participant's role (moderators; only the host makes co-hosts)."""
    reply = await session.call(
        session.meetings.UpdateParticipant,
        pb.UpdateParticipantRequest(
            participant=pb.Participant(name=participant_name(names), role=ROLES[role]),
            update_mask=FieldMask(paths=["role"]),
        ),
    )
    if options().json:
        print_json(reply)
    else:
        click.echo(f"{reply.participant.name} is now {enum_word(reply.participant, 'role')}")


# --- recordings and transcripts -----------------------------------------------------------------


@group()
@example("meetmesh recordings list meetings/6b1f2c")
def recordings() -> None:
    """A meeting's recordings: list, download."""


@recordings.command("list")
@click.argument("meeting")
@example("meetmesh recordings list meetings/6b1f2c", "meetmesh recordings list 6b1f2c --json")
@async_command
async def list_recordings(session: Session, meeting: str) -> None:
    """List a meeting's recordings."""
    reply = await session.call(
        session.meetings.ListRecordings,
        pb.ListRecordingsRequest(parent=resource("meetings", meeting), page_size=500),
    )
    if options().json:
        print_json(reply)
        return
    table(
        ["name", "type", "seconds", "bytes", "started", "renditions"],
        [
            [
                r.name,
                r.media_type,
                f"{r.duration_seconds:.1f}",
                r.size_bytes,
                when(r.start_time),
                _renditions(r),
            ]
            for r in reply.recordings
        ],
    )


def _renditions(recording: Any) -> str:
    """What the transcoder made of a recording: "mp4 hls +2 participants", or "-" (none yet)."""
    kinds = pb.RecordingRendition.Kind
    composite = [r for r in recording.renditions if not r.participant]
    people = {r.participant for r in recording.renditions if r.participant}
    words = [kinds.Name(r.kind).removeprefix("KIND_").lower() for r in composite]
    if people:
        words.append(f"+{len(people)} participant{'s' if len(people) > 1 else ''}")
    return " ".join(words) or "-"


@recordings.command()
@click.argument("recording")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="file to write")
@click.option("--mp4", is_flag=True, help="the transcoded MP4 (H.264 + AAC) instead of the original")
@click.option(
    "--participant",
    metavar="PARTICIPANT",
    help="with --mp4: that participant's own MP4 (its name or id) instead of the composite",
)
@example(
    "meetmesh recordings download meetings/6b1f2c/recordings/r1",
    "meetmesh recordings download meetings/6b1f2c/recordings/r1 -o standup.webm",
    "meetmesh recordings download meetings/6b1f2c/recordings/r1 --mp4 --participant p2",
)
@async_command
async def download(
    session: Session, recording: str, output: Path | None, mp4: bool, participant: str | None
) -> None:
    """Download a recording (with a progress bar): the original, or a transcoded MP4."""
    if participant and not mp4:
        raise click.UsageError("--participant needs --mp4")
    parent, sep, _ = recording.partition("/recordings/")
    if not sep or not parent.startswith("meetings/"):
        raise click.UsageError("give the recording's name, meetings/M/recordings/R")
    reply = await session.call(
        session.meetings.ListRecordings, pb.ListRecordingsRequest(parent=parent, page_size=500)
    )
    found = next((r for r in reply.recordings if r.name == recording), None)
    if found is None:
        raise CliError(f"no recording {recording}", EXIT_NOT_FOUND, status="NOT_FOUND")
    uri, media_type, size = found.download_uri, found.media_type, found.size_bytes
    if mp4:
        wanted = participant.rsplit("/", 1)[-1] if participant else ""
        rendition = next(
            (
                r
                for r in found.renditions
                if r.kind == pb.RecordingRendition.KIND_MP4
                and r.participant.rsplit("/", 1)[-1] == wanted
                and r.uri
            ),
            None,
        )
        if rendition is None:
            whose = f"participant {wanted}" if wanted else "the composite"
            raise CliError(
                f"no MP4 of {whose} for {recording} (yet: see the renditions column of `recordings list`)",
                EXIT_NOT_FOUND,
                status="NOT_FOUND",
            )
        uri, media_type, size = rendition.uri, rendition.media_type, rendition.size_bytes
    extension = {
        "video/webm": ".webm",
        "video/x-matroska": ".mkv",
        "audio/ogg": ".ogg",
        "video/mp4": ".mp4",
        "audio/mp4": ".m4a",
    }.get(media_type, "")
    suffix = f"-{participant.rsplit('/', 1)[-1]}" if participant else ""
    target = output or Path(recording.rsplit("/", 1)[-1] + suffix + extension)
    written = await _fetch(session, uri, target, size)
    if options().json:
        print_json({"recording": found.name, "file": str(target), "bytes": written})
    else:
        click.echo(f"saved {target} ({written} bytes)", err=True)


async def _fetch(session: Session, uri: str, target: Path, expected: int) -> int:
    url = uri if "://" in uri else session.server + uri
    headers = {}
    if url.startswith(session.server + "/"):  # the edge's signed URLs want the user's token too;
        headers["authorization"] = f"Bearer {await session.access_token()}"  # never sent elsewhere
    partial = target.with_name(target.name + ".part")
    written = 0
    try:
        async with session.channel.client.stream("GET", url, headers=headers) as response:
            if response.status_code != 200:
                raise CliError(
                    f"download failed: HTTP {response.status_code} from the object store", EXIT_UNAVAILABLE
                )
            total = int(response.headers.get("content-length") or expected or 0) or None
            bar: Any = click.progressbar(length=total, label=target.name, file=sys.stderr)
            with partial.open("wb") as out, bar:
                async for chunk in response.aiter_bytes():
                    out.write(chunk)
                    written += len(chunk)
                    bar.update(len(chunk))
    except httpx.TransportError as exc:
        partial.unlink(missing_ok=True)
        raise CliError(f"download failed: {type(exc).__name__}", EXIT_UNAVAILABLE) from exc
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(target)
    return written


@group()
@example("meetmesh transcripts export meetings/6b1f2c --format vtt -o standup.vtt")
def transcripts() -> None:
    """A meeting's transcript."""


@transcripts.command()
@click.argument("meeting")
@click.option("--format", "fmt", type=click.Choice(["text", "vtt"]), default="text", show_default=True)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="file (default: stdout)"
)
@example(
    "meetmesh transcripts export meetings/6b1f2c",
    "meetmesh transcripts export 6b1f2c --format vtt -o standup.vtt",
)
@async_command
async def export(session: Session, meeting: str, fmt: str, output: Path | None) -> None:
    """Export a meeting's transcript as text or WebVTT."""
    reply = await session.call(
        session.analysis.ExportTranscript,
        ai_pb2.ExportTranscriptRequest(
            name=resource("meetings", meeting) + "/transcript",
            format=ai_pb2.TRANSCRIPT_FORMAT_WEBVTT if fmt == "vtt" else ai_pb2.TRANSCRIPT_FORMAT_TEXT,
        ),
    )
    if options().json:
        print_json(reply)
    elif output is not None:
        await asyncio.to_thread(output.write_text, reply.content)
        click.echo(f"saved {output}", err=True)
    else:
        click.echo(reply.content, nl=not reply.content.endswith("\n"))
