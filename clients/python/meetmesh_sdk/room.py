"""An async ``Room``: join a meeting, publish and receive media, chat, and follow events.

::

    room = await Room.connect("127.0.0.1:8081", join_token)
    track_id = await room.publish(ColorVideoTrack((255, 0, 0)))
    async for event in room.events():       # SignalResponse messages (chat, captions, updates...)
        ...
    remote = await room.wait_for_track(lambda t: t.info.kind == TRACK_KIND_VIDEO)
    frame = await remote.track.recv()       # a decoded av.VideoFrame

The client is always the SDP offerer: publishing adds a sendonly m-line, subscribing a recvonly
one, and each change is one offer/answer round trip (serialised by a lock). With
``auto_subscribe`` the room subscribes to every track others publish. If the connection drops the
room resumes its session (same participant) and renegotiates on a fresh peer connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from aiortc import MediaStreamTrack, RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaRelay
from aiortc.rtcconfiguration import RTCIceTransportPolicy
from grpclib.client import Channel

from meetmesh.signaling.v1 import signaling_grpc
from meetmesh.signaling.v1 import signaling_pb2 as pb
from meetmesh_sdk.demux import route_by_mid

log = logging.getLogger("meetmesh_sdk.room")

KINDS = {"audio": pb.TRACK_KIND_AUDIO, "video": pb.TRACK_KIND_VIDEO}


class SignalingError(Exception):
    """The server rejected a request (``reason`` as in ``meetmesh.common.v1.ErrorReason``)."""

    def __init__(self, error: pb.Error) -> None:
        super().__init__(f"{error.reason}: {error.message}")
        self.reason = error.reason
        self.fatal = error.fatal


class Disconnected(Exception):
    """The session ended (``reason``: left, removed, meeting_ended, replaced, ...)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class RemoteTrack:
    """A subscribed track: ``info`` from signaling, ``track`` yields decoded frames."""

    info: pb.Track
    track: MediaStreamTrack


@dataclass
class _Local:
    track: MediaStreamTrack
    source: pb.TrackSource
    name: str
    track_id: str = ""


def _kind_name(kind: int) -> str:
    return "audio" if kind == pb.TRACK_KIND_AUDIO else "video"


def host_port(target: str) -> tuple[str, int]:
    host, _, port = target.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)


class Room:
    def __init__(
        self, target: str, token: str, auto_subscribe: bool = True, relay_only: bool = False
    ) -> None:
        self.target = target
        self.token = token
        self.auto_subscribe = auto_subscribe
        self.relay_only = relay_only  # media only through the TURN servers signaling hands out
        self.joined: pb.Joined | None = None
        self.participants: dict[str, pb.Participant] = {}
        self.tracks: dict[str, pb.Track] = {}  # every published track in the room
        self.remote: dict[str, RemoteTrack] = {}  # subscribed tracks by id
        self.active_speakers: list[str] = []  # participant ids, loudest first (latest event)
        self.pc: RTCPeerConnection | None = None
        self.closed_reason = ""
        self._local: list[_Local] = []
        self._channel: Channel | None = None
        self._stream: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._next_id = 0
        self._pending: dict[int, asyncio.Future[pb.SignalResponse]] = {}
        self._negotiation = asyncio.Lock()
        self._subscribing: dict[str, str] = {}  # mid -> track id, for the offer in flight
        self._listeners: list[asyncio.Queue[pb.SignalResponse | None]] = []
        self._changed = asyncio.Condition()
        self._background: set[asyncio.Task[Any]] = set()
        # Background work that failed (a subscription's renegotiation, say), oldest first: it has
        # no caller to raise to, so it is kept here as well as logged.
        self.failures: list[str] = []
        self._closing = False
        self._resuming: asyncio.Task[None] | None = None
        self._relay = MediaRelay()
        self._resume_started = asyncio.Event()

    # -- connecting ----------------------------------------------------------------------------
    @classmethod
    async def connect(
        cls, target: str, token: str, auto_subscribe: bool = True, relay_only: bool = False
    ) -> Room:
        """Join through signaling at ``target`` (``host:port``) with a join token."""
        room = cls(target, token, auto_subscribe, relay_only)
        try:
            await room._open(resume_token="")
        except BaseException:
            await room.close()
            raise
        return room

    async def _open(self, resume_token: str) -> None:
        self._channel = Channel(*host_port(self.target))
        self._stream = signaling_grpc.SignalingServiceStub(self._channel).Connect.open()
        await self._stream.__aenter__()
        await self._stream.send_request()
        self._reader = asyncio.ensure_future(self._read())
        joined = await self.request(
            pb.SignalRequest(join=pb.Join(token=self.token, resume_token=resume_token))
        )
        self._on_joined(joined.joined)
        self.pc = RTCPeerConnection(self._rtc_configuration())
        self.pc.on("track", self._on_track)
        if self._local or (self.auto_subscribe and self._subscribable()):
            self._spawn(self._renegotiate_all())

    def _rtc_configuration(self) -> RTCConfiguration:
        assert self.joined is not None
        servers = [
            RTCIceServer(urls=list(s.urls), username=s.username or None, credential=s.credential or None)
            for s in self.joined.ice_servers
        ]
        policy = RTCIceTransportPolicy.RELAY if self.relay_only else RTCIceTransportPolicy.ALL
        return RTCConfiguration(iceServers=servers, iceTransportPolicy=policy)

    @property
    def participant_id(self) -> str:
        assert self.joined is not None
        return self.joined.participant.id

    # -- requests ------------------------------------------------------------------------------
    async def send(self, request: pb.SignalRequest) -> None:
        if self._stream is None or self.closed_reason:
            raise Disconnected(self.closed_reason or "not connected")
        await self._stream.send_message(request)

    async def request(self, request: pb.SignalRequest, within_s: float = 20.0) -> pb.SignalResponse:
        """Send and wait for the response carrying the same ``request_id``."""
        self._next_id += 1
        request.request_id = self._next_id
        future: asyncio.Future[pb.SignalResponse] = asyncio.get_running_loop().create_future()
        self._pending[request.request_id] = future
        try:
            await self.send(request)
            response = await asyncio.wait_for(future, within_s)
        finally:
            self._pending.pop(request.request_id, None)
        if response.WhichOneof("message") == "error":
            raise SignalingError(response.error)
        return response

    # -- reading events ------------------------------------------------------------------------
    async def _read(self) -> None:
        stream = self._stream
        try:
            async for response in stream:
                self._dispatch(response)
        except Exception as exc:
            log.info("signaling stream broke: %s", type(exc).__name__)
        if self._stream is stream and not self._closing and not self.closed_reason:
            self._resuming = asyncio.ensure_future(self._resume())
            self._resume_started.set()

    def _dispatch(self, response: pb.SignalResponse) -> None:
        kind = response.WhichOneof("message")
        future = self._pending.get(response.request_id) if response.request_id else None
        if future is not None and not future.done() and kind != "tracks_published":
            future.set_result(response)
        if kind == "participant_update":
            update = response.participant_update
            if update.change == pb.ParticipantUpdate.CHANGE_LEFT:
                self.participants.pop(update.participant.id, None)
            else:
                self.participants[update.participant.id] = update.participant
        elif kind == "track_update":
            self._on_track_update(response.track_update)
        elif kind == "hand_update":
            hand = response.hand_update
            if hand.participant in self.participants:
                self.participants[hand.participant].hand_raised = hand.raised
        elif kind == "tracks_published":
            for track in response.tracks_published.tracks_by_mid.values():
                self.tracks[track.id] = track
        elif kind == "active_speakers":
            self.active_speakers = [s.participant for s in response.active_speakers.speakers]
        elif kind == "left":
            self.closed_reason = response.left.reason
        elif kind == "error" and response.error.fatal:
            self.closed_reason = self.closed_reason or response.error.reason
        for queue in self._listeners:
            queue.put_nowait(response)
        self._spawn(self._notify())

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_until(self, predicate: Callable[[], bool], within_s: float = 20.0) -> None:
        """Wait until ``predicate()`` holds; it is re-checked after every event."""
        async with asyncio.timeout(within_s), self._changed:
            await self._changed.wait_for(predicate)

    async def events(self) -> AsyncIterator[pb.SignalResponse]:
        """Every message from the server from now on, until the session ends."""
        queue: asyncio.Queue[pb.SignalResponse | None] = asyncio.Queue()
        self._listeners.append(queue)
        try:
            while (event := await queue.get()) is not None:
                yield event
        finally:
            self._listeners.remove(queue)

    def _on_joined(self, joined: pb.Joined) -> None:
        self.joined = joined
        self.participants = {p.id: p for p in joined.participants}
        self.tracks = {t.id: t for t in joined.tracks}

    def _on_track_update(self, update: pb.TrackUpdate) -> None:
        track = update.track
        if update.change == pb.TrackUpdate.CHANGE_UNPUBLISHED:
            self.tracks.pop(track.id, None)
            self.remote.pop(track.id, None)
            return
        self.tracks[track.id] = track
        if update.change == pb.TrackUpdate.CHANGE_PUBLISHED and self.auto_subscribe:
            self._spawn(self._negotiate(subscribe=[track.id]))

    def _subscribable(self) -> list[str]:
        me = self.joined.participant.id if self.joined else ""
        return [t.id for t in self.tracks.values() if t.participant != me and t.id not in self.remote]

    def _on_track(self, track: MediaStreamTrack) -> None:
        assert self.pc is not None
        for transceiver in self.pc.getTransceivers():
            if transceiver.receiver.track is track and transceiver.mid in self._subscribing:
                track_id = self._subscribing[transceiver.mid]
                info = self.tracks.get(track_id, pb.Track(id=track_id))
                self.remote[track_id] = RemoteTrack(info, track)
        self._spawn(self._notify())

    # -- media ---------------------------------------------------------------------------------
    async def publish(
        self,
        track: MediaStreamTrack,
        source: pb.TrackSource = pb.TRACK_SOURCE_UNSPECIFIED,
        name: str = "",
    ) -> str:
        """Publish a local track; returns its track id."""
        local = _Local(
            track,
            source or (pb.TRACK_SOURCE_CAMERA if track.kind == "video" else pb.TRACK_SOURCE_MICROPHONE),
            name,
        )
        self._local.append(local)
        await self._negotiate(publish=[local])
        return local.track_id

    async def subscribe(self, track_ids: list[str]) -> None:
        await self._negotiate(subscribe=track_ids)

    async def unsubscribe(self, track_ids: list[str]) -> None:
        await self.send(pb.SignalRequest(subscription=pb.UpdateSubscription(unsubscribe=track_ids)))
        for track_id in track_ids:
            self.remote.pop(track_id, None)

    async def _renegotiate_all(self) -> None:
        await self._negotiate(
            publish=list(self._local), subscribe=self._subscribable() if self.auto_subscribe else []
        )

    async def _negotiate(
        self, publish: list[_Local] | None = None, subscribe: list[str] | None = None
    ) -> None:
        async with self._negotiation:
            pc = self.pc
            if pc is None:  # torn down (resuming or closing): a resumed session negotiates afresh
                return
            publish = [p for p in publish or [] if not p.track_id or p.track_id not in self.tracks]
            wanted = [t for t in dict.fromkeys(subscribe or []) if t not in self.remote and t in self.tracks]
            if not publish and not wanted:
                return
            # Through the relay: closing a peer connection stops its tracks, and a resumed session
            # publishes the same sources again on a new one.
            senders = {
                id(p): pc.addTransceiver(self._relay.subscribe(p.track, buffered=False), direction="sendonly")
                for p in publish
            }
            receivers = {
                t: pc.addTransceiver(_kind_name(self.tracks[t].kind), direction="recvonly") for t in wanted
            }
            for transceiver in pc.getTransceivers():  # new m-lines' packets never land elsewhere
                route_by_mid(transceiver)
            await pc.setLocalDescription(await pc.createOffer())
            for p in publish:
                transceiver = senders[id(p)]
                await self.send(
                    pb.SignalRequest(
                        publish=pb.PublishTrack(
                            mid=transceiver.mid, kind=KINDS[p.track.kind], source=p.source, name=p.name
                        )
                    )
                )
            if wanted:
                subs = [pb.TrackSubscription(track_id=t, mid=receivers[t].mid) for t in wanted]
                await self.send(pb.SignalRequest(subscription=pb.UpdateSubscription(subscribe=subs)))
                self._subscribing.update({receivers[t].mid or "": t for t in wanted})
            self._next_id += 1
            offer_id = self._next_id
            published: asyncio.Future[pb.SignalResponse] = asyncio.get_running_loop().create_future()
            if publish:
                self._watch_published(offer_id, published)
            offer = pb.SignalRequest(
                request_id=offer_id, offer=pb.SessionDescription(type="offer", sdp=pc.localDescription.sdp)
            )
            future: asyncio.Future[pb.SignalResponse] = asyncio.get_running_loop().create_future()
            self._pending[offer_id] = future
            try:
                await self.send(offer)
                response = await asyncio.wait_for(future, 20)
            finally:
                self._pending.pop(offer_id, None)
            if response.WhichOneof("message") == "error":
                # The peer connection is stuck with an unanswered offer (aiortc cannot roll back):
                # drop what was refused and resume, which renegotiates on a fresh connection.
                self._local = [p for p in self._local if p not in publish]
                self.drop_connection()
                raise SignalingError(response.error)
            await pc.setRemoteDescription(RTCSessionDescription(sdp=response.answer.sdp, type="answer"))
            if publish:
                done = await asyncio.wait_for(published, 20)
                by_mid = done.tracks_published.tracks_by_mid
                for p in publish:
                    p.track_id = by_mid[senders[id(p)].mid].id
                await self._notify()  # waiters on local track ids re-check now

    def _watch_published(self, offer_id: int, future: asyncio.Future[pb.SignalResponse]) -> None:
        queue: asyncio.Queue[pb.SignalResponse | None] = asyncio.Queue()
        self._listeners.append(queue)

        async def wait() -> None:
            try:
                while (event := await queue.get()) is not None:
                    if event.request_id == offer_id and event.WhichOneof("message") in (
                        "tracks_published",
                        "error",
                    ):
                        if not future.done():
                            future.set_result(event)
                        return
            finally:
                self._listeners.remove(queue)

        self._spawn(wait())

    async def wait_for_track(
        self, predicate: Callable[[RemoteTrack], bool], within_s: float = 20.0
    ) -> RemoteTrack:
        """The first subscribed track for which ``predicate`` holds (waiting for it if needed)."""
        found: list[RemoteTrack] = []

        def check() -> bool:
            found[:] = [r for r in self.remote.values() if predicate(r)]
            return bool(found)

        await self.wait_until(check, within_s)
        return found[0]

    async def set_visible(self, track_ids: list[str], visible: bool) -> None:
        """Tell the SFU whether subscribed tracks are displayed: hidden ones are not forwarded
        (bandwidth follows the screen); shown again they resume at a keyframe."""
        key = "shown" if visible else "hidden"
        await self.send(pb.SignalRequest(visibility=pb.TrackVisibility(**{key: track_ids})))

    def local_track_id(self, track: MediaStreamTrack) -> str:
        return next(p.track_id for p in self._local if p.track is track)

    @property
    def local_track_ids(self) -> list[str]:
        """The ids of the tracks this client publishes, in the order published ("" until signaling
        has assigned one)."""
        return [p.track_id for p in self._local]

    async def mute(self, track_id: str, muted: bool = True) -> None:
        await self.send(pb.SignalRequest(mute=pb.MuteTrack(track_id=track_id, muted=muted)))

    async def unpublish(self, track_id: str) -> None:
        await self.send(pb.SignalRequest(unpublish=pb.UnpublishTrack(track_id=track_id)))
        self._local = [p for p in self._local if p.track_id != track_id]

    # -- moderation and hands ------------------------------------------------------------------
    # Moderator requests need the ``moderate`` grant; a refusal arrives as an ``error`` event.
    async def request_unmute(
        self, participant: str, source: pb.TrackSource = pb.TRACK_SOURCE_MICROPHONE
    ) -> None:
        """Ask ``participant`` to unmute (they get ``unmute_requested`` and decide)."""
        await self.send(
            pb.SignalRequest(request_unmute=pb.RequestUnmute(participant=participant, source=source))
        )

    async def mute_participant(
        self, participant: str, source: pb.TrackSource = pb.TRACK_SOURCE_UNSPECIFIED
    ) -> None:
        """Mute someone's microphone, camera or screen (unspecified: every track) at the SFU."""
        await self.send(
            pb.SignalRequest(mute_participant=pb.MuteParticipant(participant=participant, source=source))
        )

    async def mute_all(self, source: pb.TrackSource = pb.TRACK_SOURCE_MICROPHONE) -> None:
        """Mute everyone else's microphones (or another source)."""
        await self.send(pb.SignalRequest(mute_all=pb.MuteAll(source=source)))

    async def lower_hands(self, participants: list[str] | None = None) -> None:
        """Lower the given participants' raised hands (none given: every raised hand)."""
        await self.send(pb.SignalRequest(lower_hands=pb.LowerHands(participants=participants or [])))

    async def raise_hand(self, raised: bool = True) -> None:
        await self.send(pb.SignalRequest(raise_hand=pb.RaiseHand(raised=raised)))

    async def react(self, emoji: str) -> None:
        await self.send(pb.SignalRequest(reaction=pb.SendReaction(emoji=emoji)))

    # -- messages ------------------------------------------------------------------------------
    async def chat(self, text: str, to: list[str] | None = None) -> None:
        await self.send(pb.SignalRequest(chat=pb.SendChat(text=text, to=to or [])))

    async def send_data(self, payload: bytes, topic: str = "", to: list[str] | None = None) -> None:
        await self.send(pb.SignalRequest(data=pb.SendData(payload=payload, topic=topic, to=to or [])))

    async def record(self, on: bool) -> pb.SignalResponse:
        """Start or stop recording (grant ``record``); waits for the recording update."""
        await self.send(pb.SignalRequest(recording=pb.ControlRecording(record=on)))
        found: list[pb.SignalResponse] = []

        async def first() -> None:
            async for event in self.events():
                kind = event.WhichOneof("message")
                if kind == "recording_update" and event.recording_update.recording == on:
                    found.append(event)
                    return
                if kind == "error":
                    raise SignalingError(event.error)

        await asyncio.wait_for(first(), 120)
        return found[0]

    async def ping(self) -> float:
        loop = asyncio.get_running_loop()
        start = loop.time()
        await self.request(pb.SignalRequest(ping=pb.Ping(timestamp_ms=int(start * 1000))))
        return loop.time() - start

    # -- resuming and leaving ------------------------------------------------------------------
    async def _teardown_connection(self) -> None:
        stream, channel, pc = self._stream, self._channel, self.pc
        self._stream, self._channel, self.pc = None, None, None
        if stream is not None:
            with contextlib.suppress(Exception):
                await stream.__aexit__(None, None, None)
        if channel is not None:
            channel.close()
        if pc is not None:
            # Shielded: a close cut short leaves aiortc waiting forever on the next close.
            await asyncio.shield(pc.close())
        self.remote.clear()
        self._subscribing.clear()
        for p in self._local:
            p.track_id = ""

    async def _resume(self) -> None:
        assert self.joined is not None
        resume_token = self.joined.resume_token
        await self._teardown_connection()
        for attempt in range(20):
            try:
                await self._open(resume_token=resume_token)
                return
            except Exception as exc:
                log.info("resume attempt %d failed: %s", attempt + 1, type(exc).__name__)
                await self._teardown_connection()
                await asyncio.sleep(min(0.2 * 2**attempt, 2.0))
        self.closed_reason = "resume_failed"

    def drop_connection(self) -> None:
        """Cut the signaling connection as a network failure would (the room then resumes)."""
        if self._channel is not None:
            self._channel.close()

    async def wait_resumed(self, within_s: float = 20.0) -> None:
        async with asyncio.timeout(within_s):
            await self._resume_started.wait()
            assert self._resuming is not None
            await self._resuming

    async def leave(self) -> None:
        self._closing = True
        if self._stream is not None and not self.closed_reason:
            with contextlib.suppress(Exception):
                await self._stream.send_message(pb.SignalRequest(leave=pb.Leave()))
                await asyncio.wait_for(self.wait_until(lambda: bool(self.closed_reason)), 5)
        await self.close()

    async def close(self) -> None:
        self._closing = True
        for task in list(self._background):
            task.cancel()
        if self._resuming is not None:
            self._resuming.cancel()
        if self._reader is not None:
            self._reader.cancel()
        for queue in self._listeners:
            queue.put_nowait(None)
        await self._teardown_connection()
        for p in self._local:
            p.track.stop()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.warning("room task failed: %r", exc)
            self.failures.append(f"{type(exc).__name__}: {exc}"[:300])
