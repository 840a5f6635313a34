"""One signaling instance: its local sessions, the Redis bus, meeting events, and media.

Every instance pattern-subscribes to all room buses and to the meeting service's events, and
delivers to the sessions it hosts. Work that must happen once per room (removing a participant,
ending its tracks) is claimed through Redis (``HDEL`` returns 1 to one caller only).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import redis.asyncio as aioredis
from grpclib.client import Channel
from grpclib.exceptions import GRPCError
from opentelemetry import trace

from meetmesh.media.internal.v1 import media_grpc, media_pb2
from meetmesh.meeting.events.v1.events_pb2 import MeetingEvent, ParticipantChange
from meetmesh.meeting.internal.v1 import settings_grpc, settings_pb2
from meetmesh.meeting.v1.meeting_pb2 import Role
from meetmesh.signaling.events.v1.events_pb2 import RoomMessage
from meetmesh.signaling.v1 import signaling_pb2 as pb
from services.kit import JoinSessions, ServiceIdentity, TokenBucket, TokenService, events
from services.kit.follow import Follower
from services.kit.ice import IceSettings, ice_servers

from .config import SignalingOptions
from .placement import MediaPlacement
from .session import KIND_NAMES, Session
from .store import RoomStore

log = logging.getLogger("meetmesh.signaling.hub")

MAX_SPEAKERS = 3
NODE_CHECK_S = 1.0
# The roles told about synthetic voices (nobody else is).
ALERTED_ROLES = frozenset({"host", "co_host"})
# Meeting events about the lobby -> the LobbyUpdate change sent to moderators.
LOBBY_CHANGES = {
    "participant_waiting": pb.LobbyUpdate.CHANGE_WAITING,
    "participant_admitted": pb.LobbyUpdate.CHANGE_ADMITTED,
    "participant_denied": pb.LobbyUpdate.CHANGE_DENIED,
    "participant_left": pb.LobbyUpdate.CHANGE_LEFT,
}


class Hub:
    def __init__(
        self,
        settings: SignalingOptions,
        tokens: TokenService,
        redis: aioredis.Redis,
        redis_prefix: str,
        media_channel: Channel,
        joins: JoinSessions,
        meeting_channel: Channel | None = None,
        identity: ServiceIdentity | None = None,
        ice: IceSettings | None = None,
    ) -> None:
        self.settings = settings
        self.ice = ice or IceSettings()
        self.tokens = tokens
        self.redis = redis
        self.joins = joins
        self.store = RoomStore(redis, redis_prefix)
        self.redis_prefix = redis_prefix
        self.media_channel = media_channel
        self.media = media_grpc.MediaServiceStub(media_channel)
        self.meeting_channel = meeting_channel
        # Several media nodes: the meeting's node (services/media/nodes.py); else self.media.
        self.placement = MediaPlacement(
            redis, redis_prefix, self.media, identity, settings.room_node_capacity
        )
        # (meeting, participant) -> the media node the local session uses; meeting -> its node.
        self._nodes_seen: dict[tuple[str, str], str] = {}
        self._homes_seen: dict[str, str] = {}
        self._node_watch: asyncio.Task[None] | None = None
        self.chat_bucket = TokenBucket(
            redis, f"{redis_prefix}:signaling:chat", settings.chat_rate_per_s, settings.chat_burst
        )
        self.sessions: dict[tuple[str, str], Session] = {}
        self._watchers: dict[str, asyncio.Task[None]] = {}
        self._speakers: dict[str, list[str]] = {}
        self._levels: dict[str, dict[str, dict[str, float]]] = {}  # meeting -> node -> audio levels
        # Dropped participants waiting to resume: (meeting, pid) -> (timer, epoch).
        self._grace: dict[tuple[str, str], tuple[asyncio.Task[None], str]] = {}
        # Every room bus and the meeting service's events (on the channels their contract names).
        self._follower = Follower(
            redis,
            self._on_bus,
            patterns=[self.store.bus_pattern, events.channel_pattern(MeetingEvent, redis_prefix)],
            name="signaling-bus",
        )

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        self._node_watch = asyncio.ensure_future(self._watch_nodes())
        self._follower.start()
        await self._follower.wait_subscribed(10)

    async def drain(self) -> None:
        """Ask every client to reconnect elsewhere (before the server closes their streams)."""
        for session in list(self.sessions.values()):
            session.left = True
            session.send(pb.SignalResponse(reconnect=pb.Reconnect(reason="server shutting down")))
            session._finish()
            self._start_grace(session.meeting, session.pid, session.epoch)
        # Let the transports flush the reconnect events before the streams are closed.
        async with asyncio.timeout(2):
            while any(not s.outbox.empty() for s in self.sessions.values()):  # noqa: ASYNC110
                await asyncio.sleep(0.01)

    async def stop(self) -> None:
        """Hand dropped sessions still within their grace period to the other instances, which
        time them out unless they resume."""
        for (meeting, pid), (task, epoch) in list(self._grace.items()):
            task.cancel()
            with contextlib.suppress(Exception):
                await self.store.publish(RoomMessage(meeting=meeting, expire=pid, expire_epoch=epoch))
        for task in self._watchers.values():
            task.cancel()
        if self._node_watch is not None:
            self._node_watch.cancel()
        self.placement.close()
        await self._follower.stop()
        self.media_channel.close()
        if self.meeting_channel is not None:
            self.meeting_channel.close()

    # -- local sessions ------------------------------------------------------------------------
    def register(self, session: Session) -> None:
        key = (session.meeting, session.pid)
        old = self.sessions.get(key)
        self.sessions[key] = session
        # the session's stream RPC span (while tracing is on) marks when it joined the hub
        trace.get_current_span().add_event(
            "signaling.session.registered", {"meetmesh.replaced": old is not None}
        )
        if old is not None and old is not session:
            old.close("replaced")
        if session.meeting not in self._watchers:
            self._watchers[session.meeting] = asyncio.ensure_future(self._watch_media(session.meeting))

    def _unregister(self, session: Session) -> None:
        key = (session.meeting, session.pid)
        if self.sessions.get(key) is session:
            del self.sessions[key]
        if not any(m == session.meeting for m, _ in self.sessions):
            watcher = self._watchers.pop(session.meeting, None)
            if watcher is not None:
                watcher.cancel()
            self._speakers.pop(session.meeting, None)
            self._levels.pop(session.meeting, None)

    async def transport_closed(self, session: Session) -> None:
        if not session.joined:
            return
        self._unregister(session)
        if session.left:
            return
        self._start_grace(session.meeting, session.pid, session.epoch)

    def _start_grace(self, meeting: str, pid: str, epoch: str) -> None:
        key = (meeting, pid)
        old = self._grace.pop(key, None)
        if old is not None:
            old[0].cancel()
        task = asyncio.ensure_future(self._expire(meeting, pid, epoch))
        self._grace[key] = (task, epoch)
        task.add_done_callback(lambda done: self._grace_done(key, done))

    def _grace_done(self, key: tuple[str, str], task: asyncio.Task[None]) -> None:
        current = self._grace.get(key)
        if current is not None and current[0] is task:
            del self._grace[key]
        if not task.cancelled() and task.exception() is not None:  # retrieved: no "never retrieved"
            log.warning(
                "could not end a dropped participant",
                extra={"meeting": key[0], "error": type(task.exception()).__name__},
            )

    async def _expire(self, meeting: str, pid: str, epoch: str) -> None:
        """End a dropped participant unless it resumed (anywhere) within the grace period."""
        await asyncio.sleep(self.settings.resume_grace_s)
        if await self.store.epoch(meeting, pid) == epoch:
            await self.remove_participant(meeting, pid)

    def local(self, meeting: str) -> list[Session]:
        return [s for (m, _), s in self.sessions.items() if m == meeting]

    # -- media nodes ---------------------------------------------------------------------------
    async def media_for(self, meeting: str, participant: str = "") -> media_grpc.MediaServiceStub:
        """The media service that serves ``meeting`` (its node when several are registered), or
        ``participant``'s peer connection in it (its node when the meeting spans nodes)."""
        if not participant:
            return await self.placement.media_for(meeting)
        node = await self.placement.participant_node(meeting, participant)
        if (meeting, participant) in self.sessions:
            # The node its peer connection is on: a drain check that first sees the participant
            # after its node started draining still moves it.
            self._nodes_seen.setdefault((meeting, participant), node)
        return self.placement.stub(node)

    async def origin_media(self, meeting: str, publisher: str) -> media_grpc.MediaServiceStub:
        """The media node a participant's tracks are published on (mute goes there)."""
        return self.placement.stub(await self.placement.known_node(meeting, publisher))

    async def relay_tracks(self, meeting: str, pid: str, track_ids: list[str]) -> None:
        """Before ``pid`` subscribes to ``track_ids``: have its media node relay those published on
        other nodes (cascading; nothing to do when the meeting sits on one node)."""
        if self.placement.capacity <= 0:
            return  # no Redis round trip on a single node's join path
        node = await self.placement.participant_node(meeting, pid)
        if not node:
            return
        by_origin: dict[str, list[media_pb2.RelayedTrack]] = {}
        for track_id in track_ids:
            track = await self.store.track(meeting, track_id)
            if track is None:
                continue  # Negotiate reports it
            origin = await self.placement.known_node(meeting, track.participant)
            if origin and origin != node:
                by_origin.setdefault(origin, []).append(
                    media_pb2.RelayedTrack(
                        track_id=track.id, participant=track.participant, kind=KIND_NAMES.get(track.kind, "")
                    )
                )
        for origin, tracks in by_origin.items():
            await self.placement.stub(node).RelayTracks(
                media_pb2.RelayTracksRequest(meeting=meeting, source_node=origin, tracks=tracks), timeout=25
            )

    async def unpublish_relayed(self, meeting: str, track_ids: list[str]) -> None:
        """Tracks ended on their publisher's node: end their relayed copies on the meeting's nodes
        (every node the meeting's participants sit on now, which after a move includes the
        publisher's new node; a node without the track answers NOT_FOUND, ignored)."""
        if not track_ids or self.placement.capacity <= 0:
            return  # a meeting on one node relays nothing
        for node in await self.placement.meeting_nodes(meeting):
            for track_id in track_ids:
                with contextlib.suppress(GRPCError, OSError):
                    await self.placement.stub(node).UnpublishTrack(
                        media_pb2.UnpublishTrackRequest(meeting=meeting, track_id=track_id), timeout=5
                    )

    async def _watch_nodes(self) -> None:
        """Move this instance's sessions off a media node that drains or disappears: the meeting
        is placed on another node and its clients reconnect (resume), renegotiating there."""
        while True:
            await asyncio.sleep(NODE_CHECK_S)
            try:
                await self._check_nodes()
            except Exception as exc:  # Redis away: try again
                log.warning("could not check media nodes", extra={"error": type(exc).__name__})

    async def _check_nodes(self) -> None:
        nodes = await self.placement.nodes()
        if not nodes:
            return
        for meeting in {m for m, _ in self.sessions}:
            home_seen = self._homes_seen.get(meeting)
            home = self._homes_seen[meeting] = await self.placement.node_for(meeting, nodes)  # places again
            for session in self.local(meeting):
                key = (meeting, session.pid)
                seen = self._nodes_seen.get(key)
                node = self._nodes_seen[key] = await self.placement.participant_node(meeting, session.pid)
                if seen is None or seen == node:
                    continue
                log.info("moving a participant to another media node", extra={"meeting": meeting})
                with contextlib.suppress(GRPCError, OSError):  # the old node may be gone already
                    await self.placement.stub(seen).RemoveParticipant(
                        media_pb2.RemoveParticipantRequest(meeting=meeting, participant=session.pid),
                        timeout=5,
                    )
                session.left = True
                session.send(pb.SignalResponse(reconnect=pb.Reconnect(reason="media node draining")))
                session._finish()
                self._start_grace(session.meeting, session.pid, session.epoch)
            if home_seen is not None and home_seen != home:
                watcher = self._watchers.pop(meeting, None)
                if watcher is not None:
                    watcher.cancel()
                # Its media events now come from the new node: sessions that stay (on other nodes)
                # need a watcher there now; moved ones get one when they resume (register).
                if any(not session.left for session in self.local(meeting)):
                    self._watchers[meeting] = asyncio.ensure_future(self._watch_media(meeting))
        for key in [k for k in self._nodes_seen if k not in self.sessions]:
            del self._nodes_seen[key]

    # -- room operations -----------------------------------------------------------------------
    async def broadcast(
        self, meeting: str, event: pb.SignalResponse, to: list[str] | None = None, skip: str = ""
    ) -> None:
        await self.store.publish(RoomMessage(meeting=meeting, event=event, to=to or [], skip=skip))

    async def track_ended(self, meeting: str, track: pb.Track) -> None:
        if await self.store.remove_track(meeting, track.id):
            update = pb.TrackUpdate(change=pb.TrackUpdate.CHANGE_UNPUBLISHED, track=track)
            await self.broadcast(meeting, pb.SignalResponse(track_update=update))

    async def end_media(self, meeting: str, pid: str) -> None:
        """Close a participant's peer connection and unpublish its tracks (also their relayed
        copies on the meeting's other media nodes)."""
        node = await self.placement.known_node(meeting, pid)
        response = await self.placement.stub(node).RemoveParticipant(
            media_pb2.RemoveParticipantRequest(meeting=meeting, participant=pid), timeout=10
        )
        own = [track for track in await self.store.tracks(meeting) if track.participant == pid]
        ended = set(response.track_ids) | {track.id for track in own}
        await self.unpublish_relayed(meeting, sorted(ended))
        for track in own:
            await self.track_ended(meeting, track)

    async def remove_participant(self, meeting: str, pid: str) -> None:
        """The participant leaves the room (once, whichever instance gets here first)."""
        participant = await self.store.participant(meeting, pid)
        if participant is None or not await self.store.remove_participant(meeting, pid):
            return
        await self.store.clear_epoch(meeting, pid)
        try:
            await self.end_media(meeting, pid)
        except Exception:
            log.warning("media did not confirm a participant's removal", extra={"meeting": meeting})
        with contextlib.suppress(Exception):  # Redis away: the entry expires with the meeting
            await self.placement.forget(meeting, pid)
        update = pb.ParticipantUpdate(change=pb.ParticipantUpdate.CHANGE_LEFT, participant=participant)
        await self.broadcast(meeting, pb.SignalResponse(participant_update=update))

    async def recording_allowed(self, meeting: str) -> bool:
        """The meeting's ``settings.recording_allowed``, asked now (a host may change it any time)."""
        if self.meeting_channel is None:
            return False
        stub = settings_grpc.MeetingSettingsServiceStub(self.meeting_channel)
        response = await stub.GetMeetingSettings(
            settings_pb2.GetMeetingSettingsRequest(name=f"meetings/{meeting}"), timeout=5
        )
        return bool(response.settings.recording_allowed)

    def ice_servers(self, pid: str) -> list[pb.IceServer]:
        return [
            pb.IceServer(urls=s.urls, username=s.username, credential=s.credential)
            for s in ice_servers(self.ice, pid)
        ]

    # -- the bus and meeting events ------------------------------------------------------------
    async def _on_bus(self, channel: str, data: bytes) -> None:
        if events.matches(MeetingEvent, self.redis_prefix, channel):
            event = events.decode(MeetingEvent, data)
            if event is not None:
                await self._meeting_event(event)
        elif self.store.is_bus(channel):
            message = events.decode(RoomMessage, data)
            if message is not None:
                self._deliver(message)

    def _deliver(self, message: RoomMessage) -> None:
        if message.expire:
            if (message.meeting, message.expire) not in self.sessions:
                self._start_grace(message.meeting, message.expire, message.expire_epoch)
            return
        if message.close:
            session = self.sessions.get((message.meeting, message.close))
            if session is not None and session.epoch != message.keep_epoch:
                session.close(message.reason)
            return
        if not message.HasField("event"):
            return
        targets = set(message.to)
        for session in self.local(message.meeting):
            if session.pid == message.skip or (targets and session.pid not in targets):
                continue
            session.send(message.event)

    def _lobby_event(self, meeting: str, kind: str, change: ParticipantChange) -> None:
        """Tell this instance's moderators in ``meeting`` that someone knocked or left the lobby
        (every instance gets the meeting event and tells its own sessions: no bus round)."""
        moderators = [s for s in self.local(meeting) if "moderate" in s.grants]
        if not moderators or not change.participant:
            return
        update = pb.LobbyUpdate(change=LOBBY_CHANGES[kind], participant=change.participant)
        if kind == "participant_waiting":
            update.display_name = change.display_name
        for session in moderators:
            if session.pid != change.participant:
                session.send(pb.SignalResponse(lobby_update=update))

    async def _meeting_event(self, event: MeetingEvent) -> None:
        meeting, kind = event.meeting, event.WhichOneof("event")
        if kind in LOBBY_CHANGES:
            self._lobby_event(meeting, kind, getattr(event, kind))
        if kind == "participant_removed" and event.participant_removed.participant:
            pid = event.participant_removed.participant
            await self.store.revoke(meeting, pid)
            session = self.sessions.get((meeting, pid))
            if session is not None:
                session.close("removed")
            await self.remove_participant(meeting, pid)
        elif kind in ("participant_left", "participant_denied"):
            change = event.participant_left if kind == "participant_left" else event.participant_denied
            pid = change.participant
            if not pid:
                return
            # The meeting ended this presence (its join token is dead already): close the
            # session and the peer connection, unless the participant has joined again since.
            session = self.sessions.get((meeting, pid))
            generation = session.principal.generation if session and session.principal else None
            if session is not None and await self.joins.is_live(meeting, pid, generation or ""):
                return
            if session is not None:
                session.close("left" if kind == "participant_left" else "denied")
            await self.remove_participant(meeting, pid)
        elif kind == "meeting_ended":
            await self.store.end_meeting(meeting)
            for session in self.local(meeting):
                session.close("meeting_ended")
            with contextlib.suppress(GRPCError):  # not recording, or another instance stopped it
                media = await self.media_for(meeting)
                await media.StopRecording(media_pb2.StopRecordingRequest(meeting=meeting), timeout=120)
            await self.store.set_recording(meeting, "")
            for participant in await self.store.participants(meeting):
                await self.remove_participant(meeting, participant.id)
        elif kind == "role_changed" and event.role_changed.participant:
            changed_role = event.role_changed
            session = self.sessions.get((meeting, changed_role.participant))
            changed = await self.store.participant(meeting, changed_role.participant)
            if session is None or changed is None:
                return
            participant = changed
            session.grants = frozenset(changed_role.grants)
            participant.ClearField("grants")
            participant.grants.extend(sorted(session.grants))
            # Signaling's participants carry the role as the meeting's enum name, lower case, without
            # its prefix ("co_host").
            participant.role = Role.Name(changed_role.role).removeprefix("ROLE_").lower()
            session.role = participant.role
            await self.store.put_participant(meeting, participant)
            update = pb.ParticipantUpdate(change=pb.ParticipantUpdate.CHANGE_UPDATED, participant=participant)
            await self.broadcast(meeting, pb.SignalResponse(participant_update=update))

    # -- media events --------------------------------------------------------------------------
    async def _watch_media(self, meeting: str) -> None:
        """Active speakers, captions, synthetic-voice alerts and live emotions for this instance's
        sessions in ``meeting``: from the meeting's media node, or, when a meeting may span nodes,
        from every node its participants sit on (each node reports its own participants: audio
        levels do not cross a relay, and each node analyses only its own publishers)."""
        if self.placement.capacity <= 0:
            await self._watch_node(meeting, "")
            return
        streams: dict[str, asyncio.Task[None]] = {}
        try:
            while True:
                try:
                    wanted = await self.placement.meeting_nodes(meeting)
                except Exception:  # Redis away: keep what runs
                    wanted = set(streams)
                for node in set(streams) - wanted:
                    streams.pop(node).cancel()
                    self._levels.get(meeting, {}).pop(node, None)
                for node in wanted - set(streams):
                    streams[node] = asyncio.ensure_future(self._watch_node(meeting, node))
                await asyncio.sleep(NODE_CHECK_S)
        finally:
            for task in streams.values():
                task.cancel()
            await asyncio.gather(*streams.values(), return_exceptions=True)

    async def _watch_node(self, meeting: str, node: str) -> None:
        """One media node's ``WatchMeeting`` stream of ``meeting`` ("": the meeting's node)."""
        while True:
            try:
                media = self.placement.stub(node) if node else await self.media_for(meeting)
                async with media.WatchMeeting.open() as stream:
                    await stream.send_message(media_pb2.WatchMeetingRequest(meeting=meeting), end=True)
                    async for event in stream:
                        self._media_event(meeting, event, node)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("media watch interrupted; retrying", extra={"meeting": meeting})
            await asyncio.sleep(1.0)

    def _media_event(self, meeting: str, event: media_pb2.WatchMeetingResponse, node: str = "") -> None:
        kind = event.WhichOneof("event")
        if kind == "audio_levels":
            by_node = self._levels.setdefault(meeting, {})
            by_node[node] = {lv.participant: lv.level for lv in event.audio_levels.levels}
            merged: dict[str, float] = {}
            for node_levels in by_node.values():
                for participant, level in node_levels.items():
                    merged[participant] = max(level, merged.get(participant, 0.0))
            levels = sorted(
                (
                    media_pb2.AudioLevel(participant=p, level=v)
                    for p, v in merged.items()
                    if v >= self.settings.speaking_level
                ),
                key=lambda lv: -lv.level,
            )[:MAX_SPEAKERS]
            speakers = [lv.participant for lv in levels]
            if speakers == self._speakers.get(meeting):
                return
            self._speakers[meeting] = speakers
            response = pb.SignalResponse(
                active_speakers=pb.ActiveSpeakers(
                    speakers=[pb.SpeakerLevel(participant=lv.participant, level=lv.level) for lv in levels]
                )
            )
        elif kind == "caption":
            c = event.caption
            response = pb.SignalResponse(
                caption=pb.Caption(
                    participant=c.participant, text=c.text, is_final=c.is_final, utterance_id=c.utterance_id
                )
            )
        elif kind == "synthetic_voice":
            v = event.synthetic_voice
            if not v.alert:
                return
            alert = pb.SyntheticVoiceAlert(
                participant=v.participant, utterance_id=v.utterance_id, score=v.score
            )
            for session in self.local(meeting):
                if session.role in ALERTED_ROLES:
                    session.send(pb.SignalResponse(synthetic_voice_alert=alert))
            return
        elif kind == "emotions":
            e = event.emotions
            if not e.live or not e.emotion:
                return
            response = pb.SignalResponse(
                emotion_update=pb.EmotionUpdate(
                    participant=e.participant, emotion=e.emotion, score=e.score, faces=e.faces
                )
            )
        else:
            return
        for session in self.local(meeting):
            session.send(response)
