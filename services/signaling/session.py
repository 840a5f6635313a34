"""One client's signaling session, whatever carries it (gRPC ``Connect`` or WebSocket ``/rtc``).

A session reads ``SignalRequest`` messages, acts on them through its hub (room state, the bus,
media; what it may use of the hub is :class:`SessionHub`, which ``hub.Hub`` implements) and
queues ``SignalResponse`` messages in its outbox. A request that fails gets an ``error`` event
carrying the request's id; the session stays open until it has made ``max_errors`` mistakes, or
the mistake is fatal (bad token, removed participant).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Protocol

from google.protobuf import timestamp_pb2
from grpclib.exceptions import GRPCError, StreamTerminatedError
from starlette.websockets import WebSocketDisconnect

from meetmesh.media.internal.v1 import media_grpc, media_pb2
from meetmesh.signaling.events.v1.events_pb2 import RoomMessage
from meetmesh.signaling.v1 import signaling_pb2 as pb
from services.kit import (
    FailedPrecondition,
    Internal,
    InvalidArgument,
    JoinSessions,
    MeetmeshError,
    NotFound,
    PermissionDenied,
    Principal,
    ResourceExhausted,
    TokenBucket,
    TokenService,
    Unauthenticated,
)
from services.kit.errors import Reason

from .config import SignalingOptions
from .store import RoomStore

log = logging.getLogger("meetmesh.signaling.session")

OUTBOX_SIZE = 1000
MAX_EARLY_CANDIDATES = 64
CONSENT_NOTICE = (
    "This meeting is being recorded. By staying you consent to being recorded; leave the meeting if "
    "you do not consent."
)
KIND_NAMES = {pb.TRACK_KIND_AUDIO: "audio", pb.TRACK_KIND_VIDEO: "video"}


# How a transport reports that the client has gone (gRPC stream reset, WebSocket closed).
_TRANSPORT_GONE: tuple[type[BaseException], ...] = (
    ConnectionError,
    StreamTerminatedError,
    WebSocketDisconnect,
)


class SessionHub(Protocol):
    """What a session uses of the instance that hosts it (``hub.Hub``); sessions know nothing else
    of it, so a test can host sessions on anything that has these members."""

    @property
    def settings(self) -> SignalingOptions: ...
    @property
    def tokens(self) -> TokenService: ...  # verifies join tokens
    @property
    def joins(self) -> JoinSessions: ...  # whether a join token's generation is still live
    @property
    def store(self) -> RoomStore: ...  # room state shared by every instance
    @property
    def media(self) -> media_grpc.MediaServiceStub: ...  # the SFU's internal API
    @property
    def chat_bucket(self) -> TokenBucket: ...  # chat and data rate limit per participant

    async def media_for(self, meeting: str, participant: str = "") -> media_grpc.MediaServiceStub:
        """The SFU that serves ``meeting`` (its media node when several are registered), or
        ``participant``'s peer connection in it (its node when the meeting spans nodes)."""

    async def origin_media(self, meeting: str, publisher: str) -> media_grpc.MediaServiceStub:
        """The SFU a participant's tracks are published on."""

    async def relay_tracks(self, meeting: str, pid: str, track_ids: list[str]) -> None:
        """Make tracks published on other media nodes available on ``pid``'s node (cascading)."""

    async def unpublish_relayed(self, meeting: str, track_ids: list[str]) -> None:
        """End the relayed copies, on the meeting's media nodes, of tracks that ended."""

    def register(self, session: Session) -> None:
        """The session has joined: deliver its room's events to it (replacing an older session)."""

    async def transport_closed(self, session: Session) -> None:
        """The session's transport has gone (the participant may resume within the grace time)."""

    async def broadcast(
        self, meeting: str, event: pb.SignalResponse, to: list[str] | None = None, skip: str = ""
    ) -> None:
        """Send ``event`` to the room's sessions on every instance (``to``: only these; ``skip``:
        not this participant)."""

    async def track_ended(self, meeting: str, track: pb.Track) -> None:
        """A track is gone from the room: forget it, tell the room."""

    async def end_media(self, meeting: str, pid: str) -> None:
        """Close a participant's peer connection and unpublish its tracks."""

    async def remove_participant(self, meeting: str, pid: str) -> None:
        """The participant leaves the room (once, whichever instance gets here first)."""

    def ice_servers(self, pid: str) -> list[pb.IceServer]:
        """STUN/TURN servers for the participant's peer connection."""

    async def recording_allowed(self, meeting: str) -> bool:
        """The meeting's ``settings.recording_allowed``, asked of the meeting service now."""


class SessionClosed(Exception):
    """Raised inside a handler to end the session after its error event."""


class Session:
    def __init__(self, hub: SessionHub) -> None:
        self.hub = hub
        self.outbox: asyncio.Queue[pb.SignalResponse | None] = asyncio.Queue(OUTBOX_SIZE)
        self.closed = asyncio.Event()
        self.principal: Principal | None = None
        self.meeting = ""
        self.pid = ""
        self.epoch = ""
        self.grants: frozenset[str] = frozenset()
        self.role = ""  # the meeting role: "host", "co_host", "participant", "viewer"
        self.errors = 0
        self.left = False  # ended on purpose: leave, removal, replacement (no resume grace)
        self._early: list[pb.SignalResponse] | None = None
        self._pending_publish: dict[str, pb.PublishTrack] = {}
        self._pending_subscribe: dict[str, str] = {}
        self._refused_publish = False
        # Candidates trickled before the first answer (browsers trickle while the offer is in
        # flight): applied once media has the peer connection.
        self._early_candidates: list[pb.IceCandidate] | None = []

    @property
    def joined(self) -> bool:
        return bool(self.pid)

    # -- output --------------------------------------------------------------------------------
    def send(self, response: pb.SignalResponse) -> None:
        if self.closed.is_set():
            return
        if self._early is not None:
            self._early.append(response)
            return
        try:
            self.outbox.put_nowait(response)
        except asyncio.QueueFull:
            log.warning("closing a session that does not read its events", extra={"meeting": self.meeting})
            self._finish()

    def error(self, exc: MeetmeshError, request_id: int = 0, fatal: bool = False) -> None:
        message = exc.message
        if isinstance(exc, InvalidArgument) and exc.violations:
            message = "; ".join(f"{field}: {why}" for field, why in exc.violations)
        self.send(
            pb.SignalResponse(
                request_id=request_id, error=pb.Error(reason=exc.reason, message=message, fatal=fatal)
            )
        )

    def close(self, reason: str) -> None:
        """End the session from the server side: a ``left`` event, then the transport closes."""
        self.left = True
        self.send(pb.SignalResponse(left=pb.Left(reason=reason)))
        self._finish()

    def _finish(self) -> None:
        if not self.closed.is_set():
            self.closed.set()
            while True:
                try:
                    self.outbox.put_nowait(None)
                    break
                except asyncio.QueueFull:
                    self.outbox.get_nowait()

    # -- input ---------------------------------------------------------------------------------
    async def handle(self, request: pb.SignalRequest) -> None:
        kind = request.WhichOneof("message")
        try:
            if kind != "join" and not self.joined:
                raise FailedPrecondition("send join first", reason=Reason.ERROR_REASON_FAILED_PRECONDITION)
            handler = getattr(self, f"_on_{kind}")
            await handler(request)
        except SessionClosed:
            self._finish()
        except MeetmeshError as exc:
            self.reject(exc, request.request_id)
        except GRPCError as exc:
            self.reject(_from_media(exc), request.request_id)
        except Exception:
            log.exception("a signaling request failed", extra={"kind": kind})
            self.reject(Internal("internal error"), request.request_id)

    def reject(self, exc: MeetmeshError, request_id: int = 0) -> None:
        self.errors += 1
        fatal = self.errors >= self.hub.settings.max_errors
        self.error(exc, request_id, fatal)
        if fatal:
            self._finish()

    # -- join ----------------------------------------------------------------------------------
    async def _on_join(self, request: pb.SignalRequest) -> None:
        if self.joined:
            raise FailedPrecondition("already joined", reason=Reason.ERROR_REASON_FAILED_PRECONDITION)
        join = request.join
        hub, store = self.hub, self.hub.store
        try:
            principal = hub.tokens.verify_join(join.token)
        except Unauthenticated as exc:
            self.error(exc, request.request_id, fatal=True)
            raise SessionClosed from None
        meeting, pid = principal.meeting_id, principal.participant_id
        if not meeting or not pid:
            self.error(Unauthenticated("the join token names no meeting"), request.request_id, fatal=True)
            raise SessionClosed
        if await store.is_ended(meeting):
            self.error(
                FailedPrecondition("the meeting has ended", reason=Reason.ERROR_REASON_MEETING_ENDED),
                request.request_id,
                True,
            )
            raise SessionClosed
        if await store.is_revoked(meeting, pid):
            self.error(PermissionDenied("removed from the meeting"), request.request_id, fatal=True)
            raise SessionClosed
        if not await hub.joins.is_live(meeting, pid, principal.generation):
            dead = Unauthenticated(
                "the join token is no longer valid: the participant left, was removed or denied, "
                "or the meeting ended; join the meeting again",
                reason=Reason.ERROR_REASON_INVALID_TOKEN,
            )
            self.error(dead, request.request_id, fatal=True)
            raise SessionClosed
        if join.resume_token and await store.resume_owner(join.resume_token) != f"{meeting}/{pid}":
            self.error(Unauthenticated("the resume token is not valid"), request.request_id, fatal=True)
            raise SessionClosed

        self.principal, self.meeting, self.pid, self.grants = principal, meeting, pid, principal.grants
        self.role = principal.meeting_role
        self.epoch = f"{hub.settings.instance_id}:{uuid.uuid4().hex[:8]}"
        self._early = []
        await store.set_epoch(meeting, pid, self.epoch)
        hub.register(self)
        await store.publish(RoomMessage(meeting=meeting, close=pid, reason="replaced", keep_epoch=self.epoch))
        earlier = await store.participant(meeting, pid)
        resumed = earlier is not None
        if resumed:
            await hub.end_media(meeting, pid)
        participant = pb.Participant(
            id=pid,
            user=f"users/{principal.user_id}",
            role=principal.meeting_role,
            grants=sorted(self.grants),
            hand_raised=earlier is not None and earlier.hand_raised,  # a resumed hand stays up
            display_name=principal.display_name,  # from the meeting service, in the join token
        )
        await store.put_participant(meeting, participant)
        resume_token = secrets.token_urlsafe(24)
        await store.save_resume_token(resume_token, meeting, pid, principal.expires_at - time.time())
        joined = pb.Joined(
            meeting=meeting,
            participant=participant,
            participants=[p for p in await store.participants(meeting) if p.id != pid],
            tracks=await store.tracks(meeting),
            ice_servers=hub.ice_servers(pid),
            resume_token=resume_token,
            resumed=resumed,
            resume_grace_seconds=int(hub.settings.resume_grace_s),
            recording=bool(await store.recording_by(meeting)),
        )
        early, self._early = self._early, None
        self.send(pb.SignalResponse(request_id=request.request_id, joined=joined))
        for event in early:
            self.send(event)
        if not resumed:
            update = pb.ParticipantUpdate(change=pb.ParticipantUpdate.CHANGE_JOINED, participant=participant)
            await hub.broadcast(meeting, pb.SignalResponse(participant_update=update), skip=pid)

    # -- negotiation ---------------------------------------------------------------------------
    def _require(self, grant: str) -> None:
        if grant not in self.grants:
            raise PermissionDenied(f"this participant may not {grant}")

    async def _on_publish(self, request: pb.SignalRequest) -> None:
        if "publish" not in self.grants:
            self._refused_publish = True  # the offer carrying this m-line is refused too
        self._require("publish")
        if len(self._pending_publish) >= 16:
            raise InvalidArgument([("publish", "too many pending publications")])
        self._pending_publish[request.publish.mid] = request.publish

    async def _on_subscription(self, request: pb.SignalRequest) -> None:
        update = request.subscription
        if update.subscribe:
            self._require("subscribe")
        for sub in update.subscribe:
            track = await self.hub.store.track(self.meeting, sub.track_id)
            if track is None:
                raise NotFound(f"no track {sub.track_id!r} in this meeting")
            if track.participant == self.pid:
                raise InvalidArgument([("subscription.subscribe", "cannot subscribe to one's own track")])
        for sub in update.subscribe:
            self._pending_subscribe[sub.mid] = sub.track_id
        if update.unsubscribe:
            await (await self.hub.media_for(self.meeting, self.pid)).Unsubscribe(
                media_pb2.UnsubscribeRequest(
                    meeting=self.meeting, participant=self.pid, track_ids=list(update.unsubscribe)
                ),
                timeout=10,
            )

    async def _on_offer(self, request: pb.SignalRequest) -> None:
        if request.offer.type != "offer":
            raise InvalidArgument([("offer.type", "must be 'offer'")])
        if self._refused_publish:
            self._refused_publish = False
            self._pending_subscribe.clear()
            raise PermissionDenied("this participant may not publish")
        publications = {mid: f"TR_{uuid.uuid4().hex[:12]}" for mid in self._pending_publish}
        pending_publish, self._pending_publish = self._pending_publish, {}
        pending_subscribe, self._pending_subscribe = self._pending_subscribe, {}
        if pending_subscribe:  # tracks on another media node come over its relay (cascading)
            await self.hub.relay_tracks(self.meeting, self.pid, list(pending_subscribe.values()))
        response = await (await self.hub.media_for(self.meeting, self.pid)).Negotiate(
            media_pb2.NegotiateRequest(
                meeting=self.meeting,
                participant=self.pid,
                sdp=request.offer.sdp,
                publish=[media_pb2.Publication(mid=m, track_id=t) for m, t in publications.items()],
                subscribe=[media_pb2.Subscription(mid=m, track_id=t) for m, t in pending_subscribe.items()],
            ),
            timeout=20,
        )
        self.send(
            pb.SignalResponse(
                request_id=request.request_id, answer=pb.SessionDescription(type="answer", sdp=response.sdp)
            )
        )
        early, self._early_candidates = self._early_candidates, None
        for candidate in early or ():
            try:
                await self._add_candidate(candidate)
            except GRPCError as exc:  # reported on its own; the offer itself succeeded
                self.reject(_from_media(exc))
        if not publications:
            return
        tracks = {
            mid: pb.Track(
                id=track_id,
                participant=self.pid,
                kind=pending_publish[mid].kind,
                source=pending_publish[mid].source,
                name=pending_publish[mid].name,
            )
            for mid, track_id in publications.items()
        }
        for track in tracks.values():
            await self.hub.store.put_track(self.meeting, track)
        self.send(
            pb.SignalResponse(
                request_id=request.request_id, tracks_published=pb.TracksPublished(tracks_by_mid=tracks)
            )
        )
        for track in tracks.values():
            update = pb.TrackUpdate(change=pb.TrackUpdate.CHANGE_PUBLISHED, track=track)
            await self.hub.broadcast(self.meeting, pb.SignalResponse(track_update=update), skip=self.pid)

    async def _on_trickle(self, request: pb.SignalRequest) -> None:
        if self._early_candidates is not None:  # no peer connection yet: keep it for the answer
            if len(self._early_candidates) >= MAX_EARLY_CANDIDATES:
                raise InvalidArgument(
                    [("trickle", f"more than {MAX_EARLY_CANDIDATES} candidates before the first offer")]
                )
            self._early_candidates.append(request.trickle)
            return
        await self._add_candidate(request.trickle)

    async def _add_candidate(self, candidate: pb.IceCandidate) -> None:
        await (await self.hub.media_for(self.meeting, self.pid)).AddIceCandidate(
            media_pb2.AddIceCandidateRequest(
                meeting=self.meeting,
                participant=self.pid,
                candidate=candidate.candidate,
                sdp_mid=candidate.sdp_mid,
                sdp_mline_index=candidate.sdp_mline_index,
            ),
            timeout=10,
        )

    async def _own_track(self, track_id: str) -> pb.Track:
        track = await self.hub.store.track(self.meeting, track_id)
        if track is None:
            raise NotFound(f"no track {track_id!r} in this meeting")
        if track.participant != self.pid:
            raise PermissionDenied("not one of this participant's tracks")
        return track

    async def _on_unpublish(self, request: pb.SignalRequest) -> None:
        track = await self._own_track(request.unpublish.track_id)
        await (await self.hub.origin_media(self.meeting, self.pid)).UnpublishTrack(
            media_pb2.UnpublishTrackRequest(meeting=self.meeting, track_id=track.id), timeout=10
        )
        await self.hub.unpublish_relayed(self.meeting, [track.id])
        await self.hub.track_ended(self.meeting, track)

    async def _on_mute(self, request: pb.SignalRequest) -> None:
        track = await self._own_track(request.mute.track_id)
        await (await self.hub.origin_media(self.meeting, self.pid)).SetTrackMuted(
            media_pb2.SetTrackMutedRequest(meeting=self.meeting, track_id=track.id, muted=request.mute.muted),
            timeout=10,
        )
        track.muted = request.mute.muted
        track.muted_by = ""
        await self.hub.store.put_track(self.meeting, track)
        update = pb.TrackUpdate(change=pb.TrackUpdate.CHANGE_MUTED, track=track)
        await self.hub.broadcast(self.meeting, pb.SignalResponse(track_update=update))

    async def _on_visibility(self, request: pb.SignalRequest) -> None:
        visibility = request.visibility
        for track_ids, paused in ((visibility.hidden, True), (visibility.shown, False)):
            if track_ids:
                await (await self.hub.media_for(self.meeting, self.pid)).SetSubscriptionsPaused(
                    media_pb2.SetSubscriptionsPausedRequest(
                        meeting=self.meeting, participant=self.pid, track_ids=list(track_ids), paused=paused
                    ),
                    timeout=10,
                )

    # -- moderation ----------------------------------------------------------------------------
    async def _participant(self, pid: str) -> pb.Participant:
        participant = await self.hub.store.participant(self.meeting, pid)
        if participant is None:
            raise NotFound(f"no participant {pid!r} in this meeting")
        return participant

    async def _on_request_unmute(self, request: pb.SignalRequest) -> None:
        self._require("moderate")
        ask = request.request_unmute
        target = await self._participant(ask.participant)
        if target.id == self.pid:
            raise InvalidArgument([("request_unmute.participant", "cannot ask oneself")])
        event = pb.UnmuteRequested(source=ask.source or pb.TRACK_SOURCE_MICROPHONE)
        setattr(event, "from", self.pid)
        await self.hub.broadcast(self.meeting, pb.SignalResponse(unmute_requested=event), to=[target.id])

    async def _on_mute_participant(self, request: pb.SignalRequest) -> None:
        self._require("moderate")
        order = request.mute_participant
        target = await self._participant(order.participant)
        await self._mute_tracks(lambda t: t.participant == target.id and track_matches(t, order.source))

    async def _on_mute_all(self, request: pb.SignalRequest) -> None:
        self._require("moderate")
        source = request.mute_all.source or pb.TRACK_SOURCE_MICROPHONE
        await self._mute_tracks(lambda t: t.participant != self.pid and track_matches(t, source))

    async def _mute_tracks(self, select: Callable[[pb.Track], bool]) -> None:
        """Mute the selected tracks at the SFU (forwarding stops for every subscriber) and tell
        the room, naming the moderator."""
        for track in await self.hub.store.tracks(self.meeting):
            if not select(track) or track.muted:
                continue
            await (await self.hub.origin_media(self.meeting, track.participant)).SetTrackMuted(
                media_pb2.SetTrackMutedRequest(meeting=self.meeting, track_id=track.id, muted=True),
                timeout=10,
            )
            track.muted, track.muted_by = True, self.pid
            await self.hub.store.put_track(self.meeting, track)
            update = pb.TrackUpdate(change=pb.TrackUpdate.CHANGE_MUTED, track=track)
            await self.hub.broadcast(self.meeting, pb.SignalResponse(track_update=update))

    async def _on_raise_hand(self, request: pb.SignalRequest) -> None:
        await self._set_hand(await self._participant(self.pid), request.raise_hand.raised, by="")

    async def _on_lower_hands(self, request: pb.SignalRequest) -> None:
        self._require("moderate")
        wanted = set(request.lower_hands.participants)
        for participant in await self.hub.store.participants(self.meeting):
            if participant.hand_raised and (not wanted or participant.id in wanted):
                await self._set_hand(participant, False, by=self.pid)

    async def _set_hand(self, participant: pb.Participant, raised: bool, by: str) -> None:
        if participant.hand_raised == raised:
            return
        participant.hand_raised = raised
        await self.hub.store.put_participant(self.meeting, participant)
        update = pb.HandUpdate(participant=participant.id, raised=raised, by=by)
        await self.hub.broadcast(self.meeting, pb.SignalResponse(hand_update=update))

    async def _on_reaction(self, request: pb.SignalRequest) -> None:
        emoji = request.reaction.emoji
        if any(ch.isalnum() or ch.isspace() or not ch.isprintable() for ch in emoji):
            raise InvalidArgument([("reaction.emoji", "must be an emoji")])
        await self._rate_limit()
        reaction = pb.Reaction(emoji=emoji)
        setattr(reaction, "from", self.pid)
        await self.hub.broadcast(self.meeting, pb.SignalResponse(reaction=reaction), skip=self.pid)

    # -- messages ------------------------------------------------------------------------------
    async def _rate_limit(self) -> None:
        allowed, wait_s = await self.hub.chat_bucket.take(f"{self.meeting}:{self.pid}")
        if not allowed:
            raise ResourceExhausted(f"too many messages; retry in {wait_s:.1f} s", retry_after_s=wait_s)

    async def _on_chat(self, request: pb.SignalRequest) -> None:
        self._require("chat")
        await self._rate_limit()
        chat = request.chat
        stamp = timestamp_pb2.Timestamp()
        stamp.GetCurrentTime()
        message = pb.ChatMessage(text=chat.text, send_time=stamp, private=bool(chat.to))
        setattr(message, "from", self.pid)
        await self.hub.broadcast(
            self.meeting, pb.SignalResponse(chat=message), to=list(chat.to), skip=self.pid
        )

    async def _on_data(self, request: pb.SignalRequest) -> None:
        self._require("chat")
        await self._rate_limit()
        data = request.data
        message = pb.DataMessage(payload=data.payload, topic=data.topic)
        setattr(message, "from", self.pid)
        await self.hub.broadcast(
            self.meeting, pb.SignalResponse(data=message), to=list(data.to), skip=self.pid
        )

    async def _on_ping(self, request: pb.SignalRequest) -> None:
        self.send(
            pb.SignalResponse(
                request_id=request.request_id, pong=pb.Pong(timestamp_ms=request.ping.timestamp_ms)
            )
        )

    async def _on_leave(self, request: pb.SignalRequest) -> None:
        """The token and the media go before the client hears ``left``: a client that stops right
        after leaving leaves no peer behind on the media node (one would hold its drain)."""
        self.left = True  # on purpose, whatever happens below: no resume grace
        try:
            if self.principal is not None:  # the token that opened this session dies with it
                await self.hub.joins.end(self.meeting, self.pid, self.principal.generation)
            await self.hub.remove_participant(self.meeting, self.pid)
        finally:
            self.close("left")

    async def _on_recording(self, request: pb.SignalRequest) -> None:
        self._require("record")
        if request.recording.record:
            if not await self.hub.recording_allowed(self.meeting):
                raise FailedPrecondition(
                    "recording is not allowed in this meeting (settings.recording_allowed)"
                )
            await (await self.hub.media_for(self.meeting)).StartRecording(
                media_pb2.StartRecordingRequest(meeting=self.meeting), timeout=10
            )
            await self.hub.store.set_recording(self.meeting, self.pid)
            update = pb.RecordingUpdate(recording=True, by=self.pid, consent_notice=CONSENT_NOTICE)
        else:
            done = await (await self.hub.media_for(self.meeting)).StopRecording(
                media_pb2.StopRecordingRequest(meeting=self.meeting), timeout=120
            )
            await self.hub.store.set_recording(self.meeting, "")
            update = pb.RecordingUpdate(
                recording=False,
                recording_name=done.recording_name,
                download_uri=done.download_uri,
                by=self.pid,
            )
        await self.hub.broadcast(self.meeting, pb.SignalResponse(request_id=0, recording_update=update))


def track_matches(track: pb.Track, source: int) -> bool:
    """Whether a moderator's source selects ``track``: microphone means its audio, camera its
    video (screens excepted: a bot's file video counts as its camera), screen and file their
    source; unspecified means every track."""
    if source == pb.TRACK_SOURCE_UNSPECIFIED:
        return True
    if source == pb.TRACK_SOURCE_MICROPHONE:
        return track.kind == pb.TRACK_KIND_AUDIO and track.source != pb.TRACK_SOURCE_SCREEN
    if source == pb.TRACK_SOURCE_CAMERA:
        return track.kind == pb.TRACK_KIND_VIDEO and track.source != pb.TRACK_SOURCE_SCREEN
    return bool(track.source == source)


def _from_media(exc: GRPCError) -> MeetmeshError:
    """A media error as the client sees it (status name as reason, media's message kept)."""
    error = MeetmeshError(exc.message or exc.status.name, reason=exc.status.name)
    return error


async def run_session(
    session: Session,
    receive: Callable[[], Awaitable[pb.SignalRequest | None]],
    transmit: Callable[[pb.SignalResponse], Awaitable[None]],
) -> None:
    """Pump one session over a transport until either side ends it.

    ``receive`` returns the next request or None when the client has gone; it may raise
    ``MeetmeshError`` for a message it could not accept (that counts as a mistake).
    """

    async def pump_out() -> None:
        while (response := await session.outbox.get()) is not None:
            await transmit(response)

    async def pump_in() -> None:
        while not session.closed.is_set():
            try:
                request = await receive()
            except MeetmeshError as exc:
                session.reject(exc)
                continue
            if request is None:
                return
            await session.handle(request)

    def join_deadline() -> None:
        if not session.joined and not session.closed.is_set():
            timeout = session.hub.settings.join_timeout_s
            session.error(FailedPrecondition(f"no join within {timeout:g} s"), fatal=True)
            session._finish()

    deadline = asyncio.get_running_loop().call_later(session.hub.settings.join_timeout_s, join_deadline)
    sender = asyncio.ensure_future(pump_out())
    receiver = asyncio.ensure_future(pump_in())
    try:
        await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
        if receiver.done() and not session.closed.is_set():
            # The client went away (or half-closed): nothing more can be delivered.
            session._finish()
        with contextlib.suppress(Exception):
            await sender
    finally:
        deadline.cancel()
        for pump in (receiver, sender):
            pump.cancel()
            # Collect each pump's outcome when it ends: an exception left in a task would be
            # logged as "Task exception was never retrieved".
            pump.add_done_callback(_collect)
        await session.hub.transport_closed(session)


def _collect(pump: asyncio.Future[None]) -> None:
    if pump.cancelled():
        return
    error = pump.exception()
    if error is not None and not isinstance(error, _TRANSPORT_GONE):
        log.warning("a signaling session ended on an error", extra={"error": type(error).__name__})
