"""Two meeting-service instances on one PostgreSQL and Redis: a change made through one is seen
through the other at once, because the change's event drops the other instance's cached copy
(the cache's expiry is set far away here, so only the event can explain a fresh read)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from grpclib.client import Channel

from meetmesh.meeting.v1 import meeting_grpc, meeting_pb2
from services.kit import ServiceHost
from services.registry import factory
from tests.support import Platform, start_platform, wait_until


@pytest.fixture
async def two_instances(stores: dict[str, str], keys_dir: Path) -> AsyncIterator[tuple[Platform, Channel]]:
    platform = await start_platform(stores, keys_dir, cache_ttl_s=3600)
    second = ServiceHost(await factory("meeting")(platform.runtime), platform.runtime.tokens)
    await second.start()
    channel = Channel("127.0.0.1", second.grpc_port)
    try:
        yield platform, channel
    finally:
        channel.close()
        await second.stop()
        await platform.close()


async def test_a_change_through_one_instance_is_seen_through_the_other(
    two_instances: tuple[Platform, Channel],
) -> None:
    platform, channel = two_instances
    other = meeting_grpc.MeetingServiceStub(channel)
    host = await platform.client()
    guest = await platform.client()
    meeting = await host.create_meeting(title="Before")
    get = meeting_pb2.GetMeetingRequest(name=meeting.name)
    assert (await other.GetMeeting(get, metadata=host.metadata)).meeting.title == "Before"  # now cached there
    await platform.meetings.UpdateMeeting(
        meeting_pb2.UpdateMeetingRequest(
            meeting=meeting_pb2.Meeting(name=meeting.name, title="After"),
            update_mask=FieldMask(paths=["title"]),
        ),
        metadata=host.metadata,
    )

    async def fresh_title() -> bool:
        return (await other.GetMeeting(get, metadata=host.metadata)).meeting.title == "After"

    await wait_until(fresh_title, within_s=5)
    # Joining through the first instance shows in the second's count too.
    await guest.join(meeting.name)

    async def counted() -> bool:
        return (await other.GetMeeting(get, metadata=host.metadata)).meeting.participant_count == 1

    await wait_until(counted, within_s=5)
