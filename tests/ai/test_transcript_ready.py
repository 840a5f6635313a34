"""Transcript ready, end to end: a live analysis stream stores a meeting's transcript, the host ends
the meeting, the ai service (reading the meeting's durable events) completes the transcript
through the meeting service's internal `CompleteTranscript`, and the notification service mails
the host and fires the signed `transcript.ready` webhook. Once: a retried call, a restarted ai
service handling the same `meeting_ended` again, send nothing more.

Everything is real: user, meeting, ai and notification services on PostgreSQL, Redis and FerretDB,
the session's bundled Triton, flite speech, an SMTP server (aiosmtpd) and an HTTP receiver whose
deliveries the Standard Webhooks reference library verifies.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from standardwebhooks import Webhook as StandardWebhook

from meetmesh.meeting.events.v1 import events_pb2
from meetmesh.meeting.internal.v1 import recordings_grpc, recordings_pb2, transcripts_grpc, transcripts_pb2
from meetmesh.meeting.v1 import meeting_pb2
from meetmesh.notification.v1 import notification_pb2 as npb
from services.ai.config import AiServiceOptions
from services.kit import Runtime, channel, service_block
from services.kit.outbox import stream_of
from services.notification.config import NotificationOptions
from services.stack.servers import free_port
from tests.ai.conftest import AiPlatform, AiTestSettings, BundledTriton
from tests.ai.speech import FLITE_SENTENCES, flite
from tests.ai.test_captions import stream_audio, with_pauses
from tests.conftest import PG_URL, REDIS_URL
from tests.notification.conftest import Mailbox, notification_options
from tests.notification.receiver import Receiver
from tests.notification.support import NotifyPlatform
from tests.support import make_settings, wait_until


class TranscriptTestSettings(AiTestSettings):
    notification: NotificationOptions = service_block(NotificationOptions, "notification")


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    server = Receiver()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def platform(
    triton: BundledTriton,
    model_repository: Path,
    keys_dir: Path,
    run_id: str,
    mongo_url: str,
    mongo_database: str,
    smtp: tuple[Mailbox, int],
) -> AsyncIterator[NotifyPlatform]:
    stores = {
        "kind": "real",
        "database_url": PG_URL,
        "redis_url": REDIS_URL,
        "schema_prefix": f"t{run_id}_{uuid.uuid4().hex[:6]}_",
        "redis_prefix": f"mmtest:{run_id}:{uuid.uuid4().hex[:6]}",
    }
    base: dict[str, Any] = make_settings(stores, keys_dir).model_dump()
    base["mongo_url"] = mongo_url
    base["ai"] = AiServiceOptions(
        **base["ai"],
        model_repository=model_repository,
        manage_triton=False,
        triton_url=triton.url,
        stream_idle_timeout_s=3.0,
        mongo_database=mongo_database,
        transcript_settle_s=10.0,
    )
    base["notification"] = notification_options(smtp[1])
    settings = TranscriptTestSettings(**base)
    plat = NotifyPlatform(settings, stores, Runtime(settings, schema_prefix=stores["schema_prefix"]))  # type: ignore[arg-type]
    try:
        for service in ("user", "meeting", "ai", "notification"):
            await plat.start(service)
        yield plat
    finally:
        await plat.close()


async def _ai_group(plat: NotifyPlatform) -> dict[str, Any]:
    """The ai service's consumer group on the meeting stream (XINFO GROUPS)."""
    stream = stream_of(events_pb2.MeetingEvent, plat.settings.redis_prefix)
    groups = await plat.redis.xinfo_groups(stream)
    (group,) = [g for g in groups if g["name"] in (b"ai", "ai")]
    return dict(group)


async def test_the_host_hears_once_that_the_transcript_is_ready(
    platform: NotifyPlatform, smtp: tuple[Mailbox, int], receiver: Receiver
) -> None:
    plat, box = platform, smtp[0]
    host = await plat.client("Tina Transcribed")
    hook = await plat.notifications.CreateWebhook(
        npb.CreateWebhookRequest(
            webhook=npb.Webhook(
                url=receiver.url("/hooks/t"), event_types=["transcript.ready", "recording.ready"]
            )
        ),
        metadata=host.metadata,
    )
    meeting = await host.create_meeting(title="Planning", settings={"ai_enabled": True})
    meeting_id = meeting.name.split("/")[1]
    joined = await host.join(meeting.name)
    as_media = channel(f"127.0.0.1:{plat.hosts['ai'].grpc_port}", plat.runtime.identity("media"))
    ai = AiPlatform(plat.hosts["ai"], plat.runtime, plat.channel("ai"), as_media)
    try:
        await stream_audio(ai, with_pauses([flite(s) for s in FLITE_SENTENCES[:2]]), joined.participant.name)
    finally:
        as_media.close()
    await plat.meetings.EndMeeting(meeting_pb2.EndMeetingRequest(name=meeting.name), metadata=host.metadata)

    subject = "Transcript ready: Planning"

    async def mailed() -> bool:
        return any(m["Subject"] == subject for m in box.to(host.email))

    async def hooked() -> bool:
        return len(receiver.at("/hooks/t")) >= 1

    await wait_until(mailed, within_s=30)
    await wait_until(hooked, within_s=30)
    (delivery,) = receiver.at("/hooks/t")
    event = StandardWebhook(hook.webhook.secret).verify(delivery.body, delivery.headers)
    assert event["type"] == "transcript.ready"
    assert event["data"] == {"meeting": meeting.name, "transcript": f"{meeting.name}/transcript"}
    (message,) = [m for m in box.to(host.email) if m["Subject"] == subject]
    text = message.get_body(preferencelist=("plain",))
    assert text is not None and 'The transcript of "Planning" is ready.' in text.get_content()

    # A retried call records nothing new.
    registry = transcripts_grpc.TranscriptRegistryServiceStub(plat.channel("meeting"))
    as_ai = {"authorization": plat.runtime.identity("ai").authorization()}
    again = await registry.CompleteTranscript(
        transcripts_pb2.CompleteTranscriptRequest(name=f"{meeting.name}/transcript", segment_count=2),
        metadata=as_ai,
    )
    assert not again.created

    # A restarted ai service handles the same meeting_ended again (the relay replayed it).
    await plat.stop("ai")
    await plat.start("ai")
    stream = stream_of(events_pb2.MeetingEvent, plat.settings.redis_prefix)
    ended = [
        fields
        for _, fields in await plat.redis.xrange(stream)
        if (e := events_pb2.MeetingEvent.FromString(fields[b"data"])).meeting == meeting_id
        and e.WhichOneof("event") == "meeting_ended"
    ]
    assert len(ended) == 1
    replayed = (await plat.redis.xadd(stream, ended[0])).decode()

    async def ai_handled_it() -> bool:
        group = await _ai_group(plat)
        last = group["last-delivered-id"]
        last = last.decode() if isinstance(last, bytes) else last
        return bool(last == replayed and group["pending"] == 0)

    await wait_until(ai_handled_it, within_s=30)
    # A later event of the meeting (handled after the ones before it) marks where to count.
    await recordings_grpc.RecordingRegistryServiceStub(plat.channel("meeting")).CreateRecording(
        recordings_pb2.CreateRecordingRequest(
            parent=meeting.name,
            recording=meeting_pb2.Recording(
                object_key=f"{meeting.name}/recordings/r.webm", media_type="video/webm", size_bytes=1
            ),
        ),
        metadata={"authorization": plat.runtime.identity("media").authorization()},
    )

    async def recording_mailed() -> bool:
        return any(m["Subject"] == "Recording ready: Planning" for m in box.to(host.email))

    async def recording_hooked() -> bool:
        return len(receiver.at("/hooks/t")) >= 2

    await wait_until(recording_mailed, within_s=30)
    await wait_until(recording_hooked, within_s=30)
    assert len([m for m in box.to(host.email) if m["Subject"] == subject]) == 1
    types = [
        StandardWebhook(hook.webhook.secret).verify(r.body, r.headers)["type"]
        for r in receiver.at("/hooks/t")
    ]
    assert sorted(types) == ["recording.ready", "transcript.ready"]
