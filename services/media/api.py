"""The MediaService RPCs (internal: signaling is the only caller, proven by its service token)."""

from __future__ import annotations

import asyncio
import logging
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path

import redis.asyncio as aioredis
from google.protobuf import timestamp_pb2
from grpclib.exceptions import GRPCError
from grpclib.server import Stream

from meetmesh.media.internal.v1 import media_grpc, media_pb2
from meetmesh.meeting.events.v1.events_pb2 import MeetingEvent
from meetmesh.meeting.internal.v1 import recordings_grpc, recordings_pb2, settings_grpc, settings_pb2
from meetmesh.meeting.v1 import meeting_pb2
from services.kit import FailedPrecondition, NotFound, ServiceIdentity, channel, events
from services.kit.clients import client
from services.kit.follow import Follower
from services.kit.handlers import unary

from .aitap import AiTap, TapConsumer
from .jobs import TranscodeJobs
from .nodes import NodeRegistry
from .recording import MEDIA_TYPE, Recorder
from .relay import Relays
from .sfu import Sfu
from .store import RecordingStore

log = logging.getLogger("meetmesh.media.api")

AUDIO_LEVEL_INTERVAL_S = 0.25
TRANSCODE_POLL_S = 0.2


def _timestamp(seconds: float) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(datetime.fromtimestamp(seconds, UTC))
    return stamp


class MediaService(media_grpc.MediaServiceBase):
    def __init__(
        self,
        sfu: Sfu,
        store: RecordingStore,
        registry_target: str,
        ai_consumer: TapConsumer | None = None,
        ai_video_interval_s: float = 1.0,
        identity: ServiceIdentity | None = None,
    ) -> None:
        self.sfu = sfu
        self.store = store
        self.registry_target = registry_target
        # Media's credential on the meeting service's internal methods.
        self.identity = identity
        self.ai_consumer = ai_consumer
        self.ai_video_interval_s = ai_video_interval_s
        self.recorders: dict[str, Recorder] = {}
        self.ai_taps: dict[str, AiTap] = {}
        self.ai_off: set[str] = set()
        # Meetings whose participants see live emotion indicators (MeetingSettings.live_emotions).
        self.live_emotions: set[str] = set()
        self._ai_lock = asyncio.Lock()
        self._ai_closing: set[asyncio.Task[None]] = set()
        self._ai_checks: dict[str, asyncio.Future[None]] = {}
        self._settings_follower: Follower | None = None
        self.watchers: dict[str, set[asyncio.Queue[media_pb2.WatchMeetingResponse]]] = {}
        self.jobs: TranscodeJobs | None = None  # transcoding on: wiring sets the queue
        self.node: NodeRegistry | None = None  # several media nodes: this one's registration
        self.relays: Relays | None = None  # several media nodes: relays from the others (cascading)

    @unary
    async def Negotiate(self, request: media_pb2.NegotiateRequest) -> media_pb2.NegotiateResponse:
        self._check_ai(request.meeting)
        sdp = await self.sfu.negotiate(
            request.meeting,
            request.participant,
            request.sdp,
            {p.mid: p.track_id for p in request.publish},
            {s.mid: s.track_id for s in request.subscribe},
        )
        return media_pb2.NegotiateResponse(sdp=sdp)

    @unary
    async def RelayTracks(self, request: media_pb2.RelayTracksRequest) -> media_pb2.RelayTracksResponse:
        if self.relays is None:
            raise FailedPrecondition("this media node has no node_address: it cannot relay")
        await self.relays.pull(request.meeting, request.source_node, list(request.tracks))
        return media_pb2.RelayTracksResponse()

    @unary
    async def AddIceCandidate(
        self, request: media_pb2.AddIceCandidateRequest
    ) -> media_pb2.AddIceCandidateResponse:
        await self.sfu.add_ice_candidate(
            request.meeting, request.participant, request.candidate, request.sdp_mid, request.sdp_mline_index
        )
        return media_pb2.AddIceCandidateResponse()

    @unary
    async def Unsubscribe(self, request: media_pb2.UnsubscribeRequest) -> media_pb2.UnsubscribeResponse:
        self.sfu.unsubscribe(request.meeting, request.participant, list(request.track_ids))
        return media_pb2.UnsubscribeResponse()

    @unary
    async def SetSubscriptionsPaused(
        self, request: media_pb2.SetSubscriptionsPausedRequest
    ) -> media_pb2.SetSubscriptionsPausedResponse:
        self.sfu.set_paused(request.meeting, request.participant, list(request.track_ids), request.paused)
        return media_pb2.SetSubscriptionsPausedResponse()

    @unary
    async def SetTrackMuted(self, request: media_pb2.SetTrackMutedRequest) -> media_pb2.SetTrackMutedResponse:
        self.sfu.source(request.meeting, request.track_id).set_muted(request.muted)
        return media_pb2.SetTrackMutedResponse()

    @unary
    async def UnpublishTrack(
        self, request: media_pb2.UnpublishTrackRequest
    ) -> media_pb2.UnpublishTrackResponse:
        self.sfu.unpublish(request.meeting, request.track_id)
        if self.relays is not None:
            self.relays.forget(request.meeting, request.track_id)
        return media_pb2.UnpublishTrackResponse()

    @unary
    async def RemoveParticipant(
        self, request: media_pb2.RemoveParticipantRequest
    ) -> media_pb2.RemoveParticipantResponse:
        ended = await self.sfu.remove_participant(request.meeting, request.participant)
        if self.relays is not None and not self.sfu.local_peers(request.meeting):
            await self.relays.close_meeting(request.meeting)  # nobody here needs them now
        return media_pb2.RemoveParticipantResponse(track_ids=ended)

    @unary
    async def StartRecording(
        self, request: media_pb2.StartRecordingRequest
    ) -> media_pb2.StartRecordingResponse:
        if request.meeting in self.recorders:
            raise FailedPrecondition("the meeting is already being recorded")
        # Enforced here too (signaling checks first): asked at every start, a host may change it.
        if not (await self._meeting_settings(request.meeting)).recording_allowed:
            raise FailedPrecondition("recording is not allowed in this meeting (settings.recording_allowed)")
        if request.meeting in self.recorders:  # started meanwhile
            raise FailedPrecondition("the meeting is already being recorded")
        recorder = self.recorders[request.meeting] = Recorder(self.sfu.room(request.meeting))
        return media_pb2.StartRecordingResponse(start_time=_timestamp(recorder.started_wall))

    @unary
    async def StopRecording(self, request: media_pb2.StopRecordingRequest) -> media_pb2.StopRecordingResponse:
        recorder = self.recorders.pop(request.meeting, None)
        if recorder is None:
            raise FailedPrecondition("the meeting is not being recorded")
        if not recorder.has_media:
            recorder.discard()
            raise FailedPrecondition("nothing was recorded: no audio or video reached the meeting")
        recorder.stop()
        job = self.jobs.new_id() if self.jobs is not None else ""
        recording = await self._finish(request.meeting, recorder, job)
        if self.jobs is not None:
            await self.jobs.enqueue(recording.name, recording.object_key, job)
        return media_pb2.StopRecordingResponse(
            recording_name=recording.name,
            object_key=recording.object_key,
            media_type=recording.media_type,
            duration_seconds=recording.duration_seconds,
            size_bytes=recording.size_bytes,
            download_uri=recording.download_uri,
            transcode_job=job,
        )

    async def WatchTranscode(
        self, stream: Stream[media_pb2.WatchTranscodeRequest, media_pb2.WatchTranscodeResponse]
    ) -> None:
        request = await stream.recv_message()
        assert request is not None
        if self.jobs is None:
            raise FailedPrecondition("transcoding is off in this media service")
        last: media_pb2.TranscodeJob | None = None
        while True:
            job = await self.jobs.get(request.job)
            if job is None:
                raise NotFound(f"no transcode job {request.job!r}")
            if last is None or (job.state, round(job.progress, 2)) != (last.state, round(last.progress, 2)):
                await stream.send_message(media_pb2.WatchTranscodeResponse(job=job))
                last = job
            if job.state in (media_pb2.TranscodeJob.STATE_DONE, media_pb2.TranscodeJob.STATE_FAILED):
                return
            await asyncio.sleep(TRANSCODE_POLL_S)

    async def _finish(self, meeting: str, recorder: Recorder, job: str = "") -> meeting_pb2.Recording:
        key = f"meetings/{meeting}/recordings/{uuid.uuid4().hex}.webm"
        with tempfile.TemporaryDirectory(prefix="meetmesh-rec-") as folder:
            path = Path(folder) / "recording.webm"
            duration = await asyncio.to_thread(recorder.write, path)
            size = path.stat().st_size
            await self.store.put_file(key, path, MEDIA_TYPE)
        recording = meeting_pb2.Recording(
            object_key=key,
            media_type=MEDIA_TYPE,
            duration_seconds=duration,
            size_bytes=size,
            start_time=_timestamp(recorder.started_wall),
            end_time=_timestamp(recorder.started_wall + recorder.duration_s),
            transcode_job=job,
        )
        async with channel(self.registry_target, self.identity) as ch:
            registry = recordings_grpc.RecordingRegistryServiceStub(ch)
            response = await registry.CreateRecording(
                recordings_pb2.CreateRecordingRequest(parent=f"meetings/{meeting}", recording=recording),
                timeout=10,
            )
        registered = response.recording
        # Spooled or not, the URL works once the object is in the store (at once, or when S3 is back).
        registered.download_uri = self.store.download_url(key)
        return registered

    async def WatchMeeting(
        self, stream: Stream[media_pb2.WatchMeetingRequest, media_pb2.WatchMeetingResponse]
    ) -> None:
        request = await stream.recv_message()
        assert request is not None
        queue: asyncio.Queue[media_pb2.WatchMeetingResponse] = asyncio.Queue(100)
        watchers = self.watchers.setdefault(request.meeting, set())
        watchers.add(queue)
        try:
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), AUDIO_LEVEL_INTERVAL_S)
                except TimeoutError:
                    event = self._audio_levels(request.meeting)
                await stream.send_message(event)
        finally:
            watchers.discard(queue)

    def _audio_levels(self, meeting: str) -> media_pb2.WatchMeetingResponse:
        room = self.sfu.rooms.get(meeting)
        levels = room.audio_levels() if room else {}
        return media_pb2.WatchMeetingResponse(
            audio_levels=media_pb2.AudioLevels(
                levels=[media_pb2.AudioLevel(participant=p, level=v) for p, v in levels.items()]
            )
        )

    def publish(self, meeting: str, event: media_pb2.WatchMeetingResponse) -> None:
        """Deliver an AI event (caption, synthetic-voice score, frame emotions) to everyone
        watching the meeting; emotions say whether the meeting shows them live."""
        if event.WhichOneof("event") == "emotions":
            event.emotions.live = meeting in self.live_emotions
        for queue in self.watchers.get(meeting, ()):
            if not queue.full():
                queue.put_nowait(event)

    def _check_ai(self, meeting: str) -> None:
        """Tap the meeting for AI analysis when its ``settings.ai_enabled`` is on (asked once; a
        settings update asks again, see :meth:`follow_settings`). Asked beside the negotiation,
        not before it: the tap takes the room's sources whenever it comes (media flows only once
        ICE and DTLS are done, later than the answer), and a join never waits for the meeting
        service (when it was away, its retries held every first negotiation ~175 ms)."""
        if self.ai_consumer is None or meeting in self.ai_taps or meeting in self.ai_off:
            return
        if meeting in self._ai_checks:
            return
        check = asyncio.ensure_future(self.refresh_ai(meeting))
        self._ai_checks[meeting] = check

        def forget(_done: asyncio.Future[None]) -> None:
            self._ai_checks.pop(meeting, None)

        check.add_done_callback(forget)

    async def refresh_ai(self, meeting: str) -> None:
        """Read the meeting's settings and start or stop its AI tap accordingly, at once."""
        if self.ai_consumer is None:
            return
        async with self._ai_lock:
            try:
                settings = await self._settings(meeting)
            except (GRPCError, OSError) as exc:  # asked again at the next negotiation
                log.warning("could not read the meeting's AI setting: %s", type(exc).__name__)
                return
            if settings.live_emotions:
                self.live_emotions.add(meeting)
            else:
                self.live_emotions.discard(meeting)
            if settings.ai_enabled:
                self.ai_off.discard(meeting)
                if meeting not in self.ai_taps:
                    room = self.sfu.room(meeting)
                    self.ai_taps[meeting] = AiTap(room, self.ai_consumer, self.ai_video_interval_s)
            else:
                self.ai_off.add(meeting)
                tap = self.ai_taps.pop(meeting, None)
                if tap is not None:  # its sources stop being tapped now; the streams drain behind
                    task = asyncio.ensure_future(tap.close())
                    self._ai_closing.add(task)
                    task.add_done_callback(self._ai_closing.discard)

    async def _settings(self, meeting: str) -> meeting_pb2.MeetingSettings:
        async with channel(self.registry_target, self.identity) as ch:
            settings = client(settings_grpc.MeetingSettingsServiceStub, ch)  # retried: idempotent
            response = await settings.GetMeetingSettings(
                settings_pb2.GetMeetingSettingsRequest(name=f"meetings/{meeting}"), timeout=5
            )
        return response.settings

    def follow_settings(self, redis: aioredis.Redis, prefix: str) -> None:
        """Apply every meeting update (the meeting service's ``meeting_updated`` event) to the
        meetings this node serves: AI switched on or off mid-meeting takes effect at once."""
        if self._settings_follower is None:
            self._settings_follower = Follower(
                redis,
                self._on_meeting_event,
                patterns=[events.channel_pattern(MeetingEvent, prefix)],
                name="media-meeting-events",
            )
            self._settings_follower.start()

    async def _on_meeting_event(self, _channel: str, data: bytes) -> None:
        event = events.decode(MeetingEvent, data)
        if event is None or event.WhichOneof("event") != "meeting_updated":
            return
        meeting = event.meeting
        if meeting in self.ai_taps or meeting in self.ai_off or meeting in self.sfu.rooms:
            await self.refresh_ai(meeting)

    async def _meeting_settings(self, meeting: str) -> meeting_pb2.MeetingSettings:
        async with channel(self.registry_target, self.identity) as ch:
            response = await settings_grpc.MeetingSettingsServiceStub(ch).GetMeetingSettings(
                settings_pb2.GetMeetingSettingsRequest(name=f"meetings/{meeting}"), timeout=5
            )
        return response.settings

    async def close(self) -> None:
        if self._settings_follower is not None:
            await self._settings_follower.stop()
            self._settings_follower = None
        for recorder in self.recorders.values():
            recorder.discard()
        self.recorders.clear()
        for check in list(self._ai_checks.values()):
            check.cancel()
        if self._ai_checks:
            await asyncio.gather(*self._ai_checks.values(), return_exceptions=True)
        for tap in self.ai_taps.values():
            await tap.close()
        self.ai_taps.clear()
        if self._ai_closing:
            await asyncio.gather(*self._ai_closing, return_exceptions=True)
        if self.relays is not None:
            await self.relays.close()
        await self.sfu.close()
