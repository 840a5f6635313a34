"""Transcript completion: tells the meeting service when an ended meeting's transcript is complete.

The ai service reads the meeting service's durable events (the ``{prefix}:meeting:stream`` Redis
stream, consumer group ``ai``; ``services/kit/outbox.py``). On ``meeting_ended`` it waits until
the meeting's last live analysis stream on this instance has closed (each stream stores its last
final segment before it closes), at most ``settle_s``, then counts the meeting's transcript
segments and, when there is at least one, calls the meeting service's internal
``TranscriptRegistryService.CompleteTranscript``. The meeting service records the transcript and
writes ``MeetingEvent.transcript_ready`` once; a repeated call (an entry redelivered after a
crash, a restarted ai service, a retried RPC) writes nothing more.

The entry is acknowledged only after the call succeeded: a meeting service that is down gets the
call again when the entry is claimed (``claim_idle_s``), so no transcript is forgotten.
Limitation: only streams on this ai instance are waited for; with several instances a stream of
the meeting served by another one may store its last segment after the event.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import redis.asyncio as aioredis
from google.protobuf.message import DecodeError
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from meetmesh.meeting.events.v1 import events_pb2 as meeting_ev
from meetmesh.meeting.internal.v1 import transcripts_grpc, transcripts_pb2
from services.kit import ServiceIdentity, channel, downstream_timeout
from services.kit.clients import MeshChannel
from services.kit.logs import get_logger
from services.kit.outbox import StreamConsumer, StreamEntry, stream_of

from .store import ResultsStore

log = get_logger("meetmesh.ai.completion")

GROUP = "ai"
MEETING_EVENT = meeting_ev.MeetingEvent.DESCRIPTOR.full_name


class LiveStreams:
    """The live analysis streams open on this instance, by meeting."""

    def __init__(self) -> None:
        self._open: dict[str, int] = {}
        self._closed: dict[str, asyncio.Event] = {}

    @contextlib.contextmanager
    def open(self, meeting_id: str) -> Iterator[None]:
        """Counts a stream of ``meeting_id`` as open for the ``with`` block."""
        self._open[meeting_id] = self._open.get(meeting_id, 0) + 1
        self._closed.setdefault(meeting_id, asyncio.Event()).clear()
        try:
            yield
        finally:
            self._open[meeting_id] -= 1
            if not self._open[meeting_id]:
                del self._open[meeting_id]
                self._closed.pop(meeting_id).set()

    def count(self, meeting_id: str) -> int:
        return self._open.get(meeting_id, 0)

    async def closed(self, meeting_id: str, within_s: float) -> bool:
        """Wait until no stream of ``meeting_id`` is open, at most ``within_s``; whether none is."""
        event = self._closed.get(meeting_id)
        if event is None:
            return True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), within_s)
        return self.count(meeting_id) == 0


class TranscriptCompletion:
    """The ``meeting_ended`` consumer that completes transcripts (see the module's text)."""

    def __init__(
        self,
        redis: aioredis.Redis,
        prefix: str,
        store: ResultsStore,
        streams: LiveStreams,
        meeting_target: str,
        identity: ServiceIdentity,
        *,
        settle_s: float = 30.0,
        block_ms: int = 500,
        poll_s: float = 0.05,
    ) -> None:
        self.store = store
        self.streams = streams
        self.settle_s = settle_s
        self._target = meeting_target
        self._identity = identity
        self._channel: MeshChannel | None = None
        self.consumer = StreamConsumer(
            redis,
            [stream_of(meeting_ev.MeetingEvent, prefix)],
            GROUP,
            self.handle,
            # An entry waiting for its meeting's streams is not claimed by another instance meanwhile.
            claim_idle_s=settle_s + 30.0,
            block_ms=block_ms,
            poll_s=poll_s,
            probe=store.ping,
            concurrency=16,
            partition=_meeting_of,
            # The group starts at the stream's end: a deployment that gains this consumer does not
            # mail every host of a meeting that ended before. From then on nothing is missed.
            from_start=False,
        )

    async def start(self) -> None:
        try:
            await self.consumer.ensure_groups()  # at the stream's end, before any event it must see
        except Exception as exc:  # Redis away: the consumer creates the group once it is back
            log.warning("transcript completion group not created", extra={"error": repr(exc)})
        self.consumer.start()

    async def stop(self) -> None:
        await self.consumer.stop()
        if self._channel is not None:
            self._channel.close()
            self._channel = None

    async def handle(self, entry: StreamEntry) -> None:
        if entry.event_type != MEETING_EVENT:
            return
        try:
            event = meeting_ev.MeetingEvent.FromString(entry.data)
        except DecodeError:
            log.warning("undecodable meeting event skipped", extra={"key": entry.key})
            return
        if event.WhichOneof("event") == "meeting_ended" and event.meeting:
            await self.complete(event.meeting)

    async def complete(self, meeting_id: str) -> bool:
        """Complete the ended meeting's transcript once its streams here closed; whether the
        meeting service recorded it now (False: no segments, or recorded before)."""
        if not await self.streams.closed(meeting_id, self.settle_s):
            log.warning(
                "a live stream of an ended meeting is still open; its transcript is completed as it is",
                extra={"meeting": meeting_id, "streams": self.streams.count(meeting_id)},
            )
        segments = await self.store.count_segments(meeting_id)
        if not segments:
            return False
        if self._channel is None:
            self._channel = channel(self._target, self._identity)
        name = f"meetings/{meeting_id}/transcript"
        try:
            reply = await transcripts_grpc.TranscriptRegistryServiceStub(self._channel).CompleteTranscript(
                transcripts_pb2.CompleteTranscriptRequest(name=name, segment_count=segments),
                timeout=downstream_timeout(10.0),
            )
        except GRPCError as exc:
            if exc.status in (Status.NOT_FOUND, Status.FAILED_PRECONDITION):
                # Deleted since, or (a stale event) not ended: nothing to complete.
                log.warning(
                    "transcript not completed", extra={"meeting": meeting_id, "status": exc.status.name}
                )
                return False
            raise  # the meeting service is away: the entry stays pending and is tried again
        log.info(
            "transcript completed",
            extra={"meeting": meeting_id, "segments": segments, "created": reply.created},
        )
        return bool(reply.created)


def _meeting_of(entry: StreamEntry) -> str:
    try:
        return "meeting:" + str(meeting_ev.MeetingEvent.FromString(entry.data).meeting)
    except DecodeError:
        return entry.key
