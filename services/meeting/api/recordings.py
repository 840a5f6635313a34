"""Recordings: the public ``ListRecordings``, ``WatchRecordingProgress`` and
``GetRecordingPlaylist``, and the internal ``RecordingRegistry``, where media registers finished
recordings and their transcoded renditions (``meetmesh.meeting.internal.v1``, never routed by the
edge)."""

from __future__ import annotations

from grpclib.server import Stream

from meetmesh.media.internal.v1 import media_grpc, media_pb2
from meetmesh.meeting.events.v1 import events_pb2
from meetmesh.meeting.internal.v1 import recordings_grpc, recordings_pb2
from meetmesh.meeting.v1 import meeting_pb2
from services.kit import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ServiceIdentity,
    channel,
    current_principal,
)
from services.kit.events import meeting_event
from services.kit.handlers import unary
from services.kit.objects import ObjectStore, check_key
from services.kit.pagination import decode_keyset, keyset_page, page_size
from services.kit.timestamps import from_timestamp

from ..convert import meeting_id_of, recording_message, renditions_json
from ..events import MeetingEvents
from ..models import RecordingRow
from ..store import MeetingStore
from .base import MeetingHandlers


class RecordingMethods(MeetingHandlers):
    """ListRecordings (the download links are presigned for the caller), WatchRecordingProgress
    (media's WatchTranscode relayed) and GetRecordingPlaylist (HLS segments signed)."""

    #: The credential ``WatchRecordingProgress`` presents to media's internal ``WatchTranscode``
    #: (at the platform's media address); set by the wiring.
    identity: ServiceIdentity | None = None

    def _recording(self, row: RecordingRow, user_id: str) -> meeting_pb2.Recording:
        message = recording_message(row)
        message.download_uri = self.objects.presign_get(row.object_key, user_id)
        for rendition in message.renditions:
            if rendition.kind == meeting_pb2.RecordingRendition.KIND_MP4:
                rendition.uri = self.objects.presign_get(rendition.object_key, user_id)
        return message

    async def _visible_recording(self, name: str) -> tuple[RecordingRow, str]:
        """The recording ``name`` of a meeting the caller may see (else NOT_FOUND), and the caller."""
        _, meeting_id, _, recording_id = name.split("/")
        caller = current_principal()
        await self._access(meeting_id, caller)
        row = await self.store.recording(meeting_id, recording_id)
        if row is None:
            raise NotFound(f"{name} does not exist")
        return row, caller.user_id

    async def WatchRecordingProgress(
        self,
        stream: Stream[meeting_pb2.WatchRecordingProgressRequest, meeting_pb2.WatchRecordingProgressResponse],
    ) -> None:
        request = await stream.recv_message()
        assert request is not None
        row, user_id = await self._visible_recording(request.name)
        if not row.transcode_job:
            raise FailedPrecondition(f"{request.name} has no transcode job (transcoding was off)")
        async with channel(self.settings.media.address, self.identity) as ch:
            media = media_grpc.MediaServiceStub(ch)
            async with media.WatchTranscode.open() as upstream:
                await upstream.send_message(media_pb2.WatchTranscodeRequest(job=row.transcode_job), end=True)
                async for update in upstream:
                    progress = progress_of(update.job)
                    reply = meeting_pb2.WatchRecordingProgressResponse(progress=progress)
                    if progress.state == meeting_pb2.RecordingProgress.STATE_DONE:
                        # The worker registered the renditions before it marked the job done.
                        done = await self.store.recording(row.meeting_id, row.id)
                        reply.recording.CopyFrom(self._recording(done or row, user_id))
                    await stream.send_message(reply)

    @unary
    async def GetRecordingPlaylist(
        self, request: meeting_pb2.GetRecordingPlaylistRequest
    ) -> meeting_pb2.GetRecordingPlaylistResponse:
        row, _ = await self._visible_recording(request.name)
        message = recording_message(row)
        hls = [
            r
            for r in message.renditions
            if r.kind == meeting_pb2.RecordingRendition.KIND_HLS and r.participant == request.participant
        ]
        if not hls:
            whose = request.participant or "the composite"
            raise NotFound(f"{request.name} has no HLS rendition of {whose}")
        key = hls[0].object_key
        playlist = (await self.objects.get_bytes(key)).decode()
        return meeting_pb2.GetRecordingPlaylistResponse(
            # Segments unbound to the caller (like S3's presigned URLs, bearer capabilities until
            # they expire): a player fetches them with no token, so a browser's native HLS works.
            playlist=signed_playlist(playlist, key.rsplit("/", 1)[0], self.objects)
        )

    @unary
    async def ListRecordings(
        self, request: meeting_pb2.ListRecordingsRequest
    ) -> meeting_pb2.ListRecordingsResponse:
        meeting_id = meeting_id_of(request.parent)
        caller = current_principal()
        await self._access(meeting_id, caller)
        size = page_size(request.page_size)
        params = {"m": "ListRecordings", "p": request.parent}
        rows = await self.store.recordings(meeting_id, decode_keyset(request.page_token, params), size + 1)
        rows, token = keyset_page(rows, size, lambda r: (r.create_time, r.id), params)
        return meeting_pb2.ListRecordingsResponse(
            recordings=[self._recording(r, caller.user_id) for r in rows], next_page_token=token
        )


_PROGRESS_STATES = {
    media_pb2.TranscodeJob.STATE_QUEUED: meeting_pb2.RecordingProgress.STATE_QUEUED,
    media_pb2.TranscodeJob.STATE_RUNNING: meeting_pb2.RecordingProgress.STATE_RUNNING,
    media_pb2.TranscodeJob.STATE_DONE: meeting_pb2.RecordingProgress.STATE_DONE,
    media_pb2.TranscodeJob.STATE_FAILED: meeting_pb2.RecordingProgress.STATE_FAILED,
}


def progress_of(job: media_pb2.TranscodeJob) -> meeting_pb2.RecordingProgress:
    """The public view of media's transcode job."""
    return meeting_pb2.RecordingProgress(
        state=_PROGRESS_STATES.get(job.state, meeting_pb2.RecordingProgress.STATE_UNSPECIFIED),
        fraction=job.progress,
        attempts=job.attempts,
        error=job.error,
    )


def signed_playlist(playlist: str, folder: str, objects: ObjectStore, user: str = "") -> str:
    """An HLS playlist whose segment lines (relative names in ``folder``) are signed URLs.

    Tags and comments stay as they are; a line that is not a plain segment name (an absolute URL,
    a path with ``/`` or ``..``) is refused rather than signed."""
    lines = []
    for line in playlist.splitlines():
        text = line.strip()
        if text and not text.startswith("#"):
            if "/" in text or "\\" in text or text.startswith(".") or ":" in text:
                raise FailedPrecondition("the stored playlist names a segment outside its folder")
            line = objects.presign_get(check_key(f"{folder}/{text}"), user)
        lines.append(line)
    return "\n".join(lines) + "\n"


class RecordingRegistry(recordings_grpc.RecordingRegistryServiceBase):
    def __init__(self, store: MeetingStore, events: MeetingEvents) -> None:
        self.store = store
        self.events = events

    @unary
    async def CreateRecording(
        self, request: recordings_pb2.CreateRecordingRequest
    ) -> recordings_pb2.CreateRecordingResponse:
        recording = request.recording
        meeting_id = request.parent.split("/")[1]
        # protovalidate has checked the key's shape; it must be a safe key under this meeting's folder.
        folder = f"meetings/{meeting_id}/recordings/"
        check_key(recording.object_key, "recording.object_key")
        if not recording.object_key.startswith(folder):
            raise InvalidArgument([("recording.object_key", f"must be under {folder}")])
        row = await self.store.add_recording(
            meeting_id,
            {
                "object_key": recording.object_key,
                "media_type": recording.media_type,
                "duration_seconds": recording.duration_seconds,
                "size_bytes": recording.size_bytes,
                "start_time": from_timestamp(recording.start_time)
                if recording.HasField("start_time")
                else None,
                "end_time": from_timestamp(recording.end_time) if recording.HasField("end_time") else None,
                "transcode_job": recording.transcode_job,
            },
        )
        registered = recording_message(row)
        ready = events_pb2.RecordingReady(recording=registered.name)
        await self.events.publish(meeting_event(meeting_id, recording_ready=ready))
        return recordings_pb2.CreateRecordingResponse(recording=registered)

    @unary
    async def SetRecordingRenditions(
        self, request: recordings_pb2.SetRecordingRenditionsRequest
    ) -> recordings_pb2.SetRecordingRenditionsResponse:
        _, meeting_id, _, recording_id = request.name.split("/")
        folder = f"meetings/{meeting_id}/recordings/"
        problems = []
        for i, rendition in enumerate(request.renditions):
            field = f"renditions[{i}]"
            check_key(rendition.object_key, f"{field}.object_key")
            if not rendition.object_key.startswith(folder):
                problems.append((f"{field}.object_key", f"must be under {folder}"))
            if rendition.kind == meeting_pb2.RecordingRendition.KIND_UNSPECIFIED:
                problems.append((f"{field}.kind", "must be KIND_MP4 or KIND_HLS"))
            if rendition.participant and not rendition.participant.startswith(
                f"meetings/{meeting_id}/participants/"
            ):
                problems.append((f"{field}.participant", f"must be a participant of meetings/{meeting_id}"))
        if problems:
            raise InvalidArgument(problems)
        row = await self.store.set_renditions(meeting_id, recording_id, renditions_json(request.renditions))
        return recordings_pb2.SetRecordingRenditionsResponse(recording=recording_message(row))
