"""S3 going away: UNAVAILABLE with RetryInfo (never a hang or INTERNAL) on the avatar and attachment
RPCs, and everything works again once the SeaweedFS server is back (same data directory)."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from meetmesh.meeting.v1 import meeting_pb2
from meetmesh.user.v1 import user_pb2
from services.kit.objects import ObjectStoreSettings, ObjectStoreUnavailable, S3ObjectStore
from services.stack import SeaweedS3Server
from tests import servers
from tests.images import image_bytes
from tests.support import Platform, retry_delay, squatting, start_platform, wait_until


@pytest.fixture(scope="module")
def s3() -> Iterator[SeaweedS3Server]:
    """A SeaweedFS of this module's own: its tests kill and restart it."""
    server = SeaweedS3Server()
    server.start()
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture
def settings(s3: SeaweedS3Server) -> ObjectStoreSettings:
    if not s3.running:
        s3.start()
    return ObjectStoreSettings(
        endpoint=s3.endpoint,
        access_key=s3.access_key,
        secret_key=s3.secret_key,
        bucket="outage",
        timeout_s=1.0,
    )


@pytest.fixture
async def platform(run_id: str, keys_dir: Path, settings: ObjectStoreSettings) -> AsyncIterator[Platform]:
    stores = {
        "kind": "real",
        "database_url": servers.postgres_url(),
        "redis_url": servers.redis_url(),
        "schema_prefix": f"t{run_id}_{uuid.uuid4().hex[:6]}_",
        "redis_prefix": f"mmtest:{run_id}:{uuid.uuid4().hex[:6]}",
    }
    plat = await start_platform(stores, keys_dir, objects=settings)
    try:
        yield plat
    finally:
        await plat.close()


def assert_unavailable(error: GRPCError) -> None:
    assert error.status is Status.UNAVAILABLE
    assert retry_delay(error) >= 1


async def test_the_store_fails_fast_while_s3_is_down_and_recovers(
    s3: SeaweedS3Server, settings: ObjectStoreSettings
) -> None:
    store = S3ObjectStore(settings)
    await store.put_bytes("probe/before", b"kept", "text/plain")
    s3.kill()
    started = time.monotonic()
    with pytest.raises(ObjectStoreUnavailable):
        await store.put_bytes("probe/during", b"lost?", "text/plain")
    with pytest.raises(ObjectStoreUnavailable):
        await store.stat("probe/before")
    assert time.monotonic() - started < 6
    assert not await store.ping()
    s3.start()
    assert await store.get_bytes("probe/before") == b"kept"
    await store.put_bytes("probe/after", b"fine", "text/plain")
    assert await store.ping()


async def test_avatar_commit_while_s3_is_down_is_unavailable_then_succeeds(
    s3: SeaweedS3Server, platform: Platform
) -> None:
    alice = await platform.client()
    data = image_bytes()
    started = await platform.users.CreateAvatarUpload(
        user_pb2.CreateAvatarUploadRequest(parent="users/me", content_type="image/png", size_bytes=len(data)),
        metadata=alice.metadata,
    )
    async with httpx.AsyncClient() as http:
        assert (await http.put(started.upload_uri, content=data)).status_code == 200
    s3.kill()
    with pytest.raises(GRPCError) as raised:
        await platform.users.CommitAvatar(
            user_pb2.CommitAvatarRequest(name=started.upload), metadata=alice.metadata, timeout=15
        )
    assert_unavailable(raised.value)
    s3.start()
    reply = await platform.users.CommitAvatar(
        user_pb2.CommitAvatarRequest(name=started.upload), metadata=alice.metadata
    )
    async with httpx.AsyncClient() as http:
        assert (await http.get(reply.user.avatar_uri)).status_code == 200


async def test_attachments_while_s3_is_down_are_unavailable_and_cleanup_waits_for_it(
    s3: SeaweedS3Server, platform: Platform
) -> None:
    host = await platform.client()
    meeting = await host.create_meeting()
    body = b"plain text\n" * 10

    async def share() -> meeting_pb2.CreateAttachmentResponse:
        created = await platform.meetings.CreateAttachment(
            meeting_pb2.CreateAttachmentRequest(
                parent=meeting.name,
                attachment=meeting_pb2.Attachment(
                    filename="a.txt", content_type="text/plain", size_bytes=len(body)
                ),
            ),
            metadata=host.metadata,
        )
        async with httpx.AsyncClient() as http:
            put = await http.put(created.upload_uri, content=body, headers={"content-type": "text/plain"})
            assert put.status_code == 200
        return created

    ready = await share()
    await platform.meetings.CommitAttachment(
        meeting_pb2.CommitAttachmentRequest(name=ready.attachment.name), metadata=host.metadata
    )
    pending = await share()
    s3.kill()
    with pytest.raises(GRPCError) as raised:
        await platform.meetings.CommitAttachment(
            meeting_pb2.CommitAttachmentRequest(name=pending.attachment.name),
            metadata=host.metadata,
            timeout=15,
        )
    assert_unavailable(raised.value)
    # Ending the meeting does not wait for S3: the attachments are gone from the meeting at once ...
    await platform.meetings.EndMeeting(
        meeting_pb2.EndMeetingRequest(name=meeting.name), metadata=host.metadata
    )
    listed = await platform.meetings.ListAttachments(
        meeting_pb2.ListAttachmentsRequest(parent=meeting.name), metadata=host.metadata
    )
    assert list(listed.attachments) == []
    # ... and their files once S3 is back.
    s3.start()
    objects = platform.runtime.objects

    async def files_removed() -> bool:
        try:
            return await objects.list(f"{meeting.name}/attachments/") == []
        except ObjectStoreUnavailable:
            return False

    await wait_until(files_removed, within_s=20, every_s=0.2)


def test_a_port_taken_between_picking_and_binding_starts_on_new_ones() -> None:
    """Free ports are only free when picked: another process may bind one before weed does (a CI
    run once lost every S3 test to its filer's "address already in use"). A temporary server
    then starts again on new ports."""
    server = SeaweedS3Server()
    taken = server.ports["filer"]
    with squatting(taken):
        try:
            server.start()
            assert server.running and server.ports["filer"] != taken
            with httpx.Client() as http:  # the gateway answers (403 without credentials)
                assert http.get(f"{server.url}/").status_code == 403
        finally:
            server.remove()
