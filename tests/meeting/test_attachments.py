"""Meeting attachments against a real S3 (SeaweedFS): shared by presigned PUT, visible only to the
meeting's participants, downloaded by presigned GET, removed when the meeting ends."""

from __future__ import annotations

import httpx
import pytest
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from meetmesh.meeting.v1 import meeting_pb2
from tests.support import Client, Platform, field_violations

PDF = b"%PDF-1.4\n" + b"x" * 2000 + b"\n%%EOF\n"


async def create(
    client: Client,
    meeting: str,
    filename: str = "notes.pdf",
    content_type: str = "application/pdf",
    size: int = len(PDF),
) -> meeting_pb2.CreateAttachmentResponse:
    return await client.platform.meetings.CreateAttachment(
        meeting_pb2.CreateAttachmentRequest(
            parent=meeting,
            attachment=meeting_pb2.Attachment(filename=filename, content_type=content_type, size_bytes=size),
        ),
        metadata=client.metadata,
    )


async def put(uri: str, data: bytes, content_type: str) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.put(uri, content=data, headers={"content-type": content_type})


async def commit(client: Client, name: str) -> meeting_pb2.Attachment:
    reply = await client.platform.meetings.CommitAttachment(
        meeting_pb2.CommitAttachmentRequest(name=name), metadata=client.metadata
    )
    return reply.attachment


async def share(client: Client, meeting: str, data: bytes = PDF, **fields: object) -> meeting_pb2.Attachment:
    created = await create(client, meeting, **fields)  # type: ignore[arg-type]
    content_type = created.attachment.content_type
    assert (await put(created.upload_uri, data, content_type)).status_code == 200
    return await commit(client, created.attachment.name)


async def listed(client: Client, meeting: str) -> list[meeting_pb2.Attachment]:
    reply = await client.platform.meetings.ListAttachments(
        meeting_pb2.ListAttachmentsRequest(parent=meeting), metadata=client.metadata
    )
    return list(reply.attachments)


async def stored(platform: Platform, meeting: str) -> list[str]:
    return [o.key for o in await platform.runtime.objects.list(f"{meeting}/attachments/")]


async def test_participants_share_list_and_download_attachments(s3_platform: Platform) -> None:
    host = await s3_platform.client("Host")
    guest = await s3_platform.client("Guest")
    meeting = await host.create_meeting()
    await guest.join(meeting.name)
    shared = await share(guest, meeting.name)
    assert shared.state == meeting_pb2.Attachment.STATE_READY
    assert shared.uploader == guest.user.name
    seen = await listed(host, meeting.name)
    assert [a.name for a in seen] == [shared.name]
    assert seen[0].filename == "notes.pdf" and seen[0].size_bytes == len(PDF)
    async with httpx.AsyncClient() as http:
        assert (await http.get(seen[0].download_uri)).content == PDF
    got = await s3_platform.meetings.GetAttachment(
        meeting_pb2.GetAttachmentRequest(name=shared.name), metadata=guest.metadata
    )
    async with httpx.AsyncClient() as http:
        assert (await http.get(got.attachment.download_uri)).content == PDF


async def test_attachments_are_invisible_outside_their_meeting(s3_platform: Platform) -> None:
    host_a, host_b = await s3_platform.client(), await s3_platform.client()
    bob, outsider = await s3_platform.client(), await s3_platform.client()
    meeting_a, meeting_b = await host_a.create_meeting(), await host_b.create_meeting()
    await bob.join(meeting_a.name)
    in_b = await share(host_b, meeting_b.name)
    b_id = in_b.name.rsplit("/", 1)[1]
    for client, name in [
        (bob, in_b.name),  # a participant of A asking for B's attachment
        (bob, f"{meeting_a.name}/attachments/{b_id}"),  # B's attachment id under A
        (outsider, in_b.name),
    ]:
        with pytest.raises(GRPCError) as raised:
            await s3_platform.meetings.GetAttachment(
                meeting_pb2.GetAttachmentRequest(name=name), metadata=client.metadata
            )
        assert raised.value.status is Status.NOT_FOUND, name
    for client, meeting in [(bob, meeting_b.name), (outsider, meeting_a.name)]:
        with pytest.raises(GRPCError) as raised:
            await listed(client, meeting)
        assert raised.value.status is Status.NOT_FOUND
        with pytest.raises(GRPCError) as raised:
            await create(client, meeting)
        assert raised.value.status is Status.NOT_FOUND


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"size": 25 * 1024 * 1024 + 1}, "attachment.size_bytes"),
        ({"content_type": "application/x-msdownload"}, "attachment.content_type"),
        ({"content_type": "text/html"}, "attachment.content_type"),
        ({"filename": "../../etc/passwd"}, "attachment.filename"),
        ({"filename": "/abs.pdf"}, "attachment.filename"),
        ({"filename": "a\x00b.pdf"}, "attachment.filename"),
        ({"filename": "dir\\x.pdf"}, "attachment.filename"),
    ],
)
async def test_bad_attachments_are_refused_and_nothing_is_stored(
    s3_platform: Platform, fields: dict[str, object], field: str
) -> None:
    host = await s3_platform.client()
    meeting = await host.create_meeting()
    with pytest.raises(GRPCError) as raised:
        await create(host, meeting.name, **fields)  # type: ignore[arg-type]
    assert raised.value.status is Status.INVALID_ARGUMENT
    assert field in field_violations(raised.value)
    assert await listed(host, meeting.name) == []
    assert await stored(s3_platform, meeting.name) == []


@pytest.mark.parametrize(
    ("data", "content_type", "why"),
    [
        (PDF + b"more than declared", "application/pdf", "size differs"),
        (PDF, "text/html", "Content-Type differs"),
    ],
)
async def test_an_upload_unlike_its_declaration_is_removed_at_commit(
    s3_platform: Platform, data: bytes, content_type: str, why: str
) -> None:
    host = await s3_platform.client()
    meeting = await host.create_meeting()
    created = await create(host, meeting.name)
    assert (await put(created.upload_uri, data, content_type)).status_code == 200
    with pytest.raises(GRPCError) as raised:
        await commit(host, created.attachment.name)
    assert raised.value.status is Status.INVALID_ARGUMENT
    assert why in field_violations(raised.value)["name"]
    assert await stored(s3_platform, meeting.name) == []
    assert await listed(host, meeting.name) == []


async def test_ending_the_meeting_removes_its_attachments(s3_platform: Platform) -> None:
    host = await s3_platform.client()
    meeting = await host.create_meeting()
    other = await host.create_meeting()
    await share(host, meeting.name)
    await share(
        host, meeting.name, filename="b.png", content_type="image/png", data=b"\x89PNG" + b"0" * 50, size=54
    )
    kept = await share(host, other.name)
    assert len(await stored(s3_platform, meeting.name)) == 2
    await s3_platform.meetings.EndMeeting(
        meeting_pb2.EndMeetingRequest(name=meeting.name), metadata=host.metadata
    )
    assert await stored(s3_platform, meeting.name) == []
    assert await listed(host, meeting.name) == []
    assert [a.name for a in await listed(host, other.name)] == [kept.name]
    with pytest.raises(GRPCError) as raised:
        await create(host, meeting.name)
    assert raised.value.status is Status.FAILED_PRECONDITION


async def test_only_the_uploader_or_a_moderator_deletes(s3_platform: Platform) -> None:
    host, guest, other = await s3_platform.client(), await s3_platform.client(), await s3_platform.client()
    meeting = await host.create_meeting()
    await guest.join(meeting.name)
    await other.join(meeting.name)
    shared = await share(guest, meeting.name)
    with pytest.raises(GRPCError) as raised:
        await s3_platform.meetings.DeleteAttachment(
            meeting_pb2.DeleteAttachmentRequest(name=shared.name), metadata=other.metadata
        )
    assert raised.value.status is Status.PERMISSION_DENIED
    await s3_platform.meetings.DeleteAttachment(
        meeting_pb2.DeleteAttachmentRequest(name=shared.name), metadata=host.metadata
    )
    assert await stored(s3_platform, meeting.name) == []
    assert await listed(guest, meeting.name) == []
