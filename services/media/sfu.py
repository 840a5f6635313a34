"""Rooms of peers: one aiortc peer connection per participant, tracks forwarded between them.

The participant is always the SDP offerer. Each offer comes with what its new m-lines are for:
``publish`` (mid -> track id: the SFU receives there) and ``subscribe`` (mid -> track id of someone
else's track: the SFU sends there). Every other m-line must not send media to the SFU.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpTransceiver, RTCSessionDescription
from aiortc.sdp import SessionDescription, candidate_from_sdp

from services.kit import FailedPrecondition, InvalidArgument, NotFound, tracing
from services.kit.errors import Reason

from . import metrics
from .forwarding import ForwardedTrack, PacketSource, attach_sender, attach_source, restrict_codecs

log = logging.getLogger("meetmesh.media.sfu")

# A source whose last audio level is older than this counts as silent.
AUDIO_LEVEL_MAX_AGE_S = 0.5
SENDING_DIRECTIONS = ("sendonly", "sendrecv")
# Participant ids of other media nodes' relays (relay.py): ``relay:<node address>``.
RELAY_PREFIX = "relay:"


def is_relay(participant: str) -> bool:
    return participant.startswith(RELAY_PREFIX)


def parse_offer(sdp: str) -> SessionDescription:
    """Parse an offer, turning aiortc's assorted parse errors into InvalidArgument."""
    try:
        parsed = SessionDescription.parse(sdp)
    except Exception as exc:
        raise _bad(f"malformed SDP: {type(exc).__name__}") from None
    if not parsed.media:
        raise _bad("the SDP offer has no m-lines")
    for media in parsed.media:
        if not media.rtp.muxId and media.kind in ("audio", "video"):
            raise _bad("every m-line needs an a=mid")
    return parsed


def _bad(message: str, field: str = "sdp") -> InvalidArgument:
    return InvalidArgument([(field, message)], message)


def level_from_dbov(dbov: int) -> float:
    """RTP audio level (0 loud .. 127 silent, -dBov) to linear amplitude in [0, 1]."""
    return float(10 ** (-min(max(dbov, 0), 127) / 20))


@dataclass
class Peer:
    """One participant's peer connection and what flows through it."""

    meeting: str
    participant: str
    pc: RTCPeerConnection
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    published: dict[str, PacketSource] = field(default_factory=dict)  # track id -> source
    published_mids: set[str] = field(default_factory=set)
    subscriptions: dict[str, ForwardedTrack] = field(default_factory=dict)  # track id -> down-track
    subscription_mids: dict[str, RTCRtpTransceiver] = field(default_factory=dict)  # track id -> m-line
    joined_at: float = field(default_factory=time.monotonic)
    first_frame_seen: bool = False
    watched: bool = False  # a relay peer: its end is watched (see Sfu._watch_relay)

    def first_frame(self) -> None:
        """The first frame went out to this participant: observe join-to-first-frame, once."""
        if not self.first_frame_seen:
            self.first_frame_seen = True
            metrics.JOIN_TO_FIRST_FRAME.observe(time.monotonic() - self.joined_at)


SourceListener = Callable[[str, PacketSource], None]


class Room:
    """A meeting's peers and published tracks."""

    def __init__(self, meeting: str) -> None:
        self.meeting = meeting
        self.peers: dict[str, Peer] = {}
        self.sources: dict[str, tuple[str, PacketSource]] = {}  # track id -> (participant, source)
        self.source_listeners: list[SourceListener] = []

    def add_source(self, participant: str, track_id: str, source: PacketSource) -> None:
        self.sources[track_id] = (participant, source)
        for listener in list(self.source_listeners):
            listener(participant, source)

    def audio_levels(self) -> dict[str, float]:
        now = time.monotonic()
        levels: dict[str, float] = {}
        for participant, source in self.sources.values():
            if source.kind != "audio" or source.audio_level_dbov is None or source.muted:
                continue
            fresh = now - source.audio_level_at < AUDIO_LEVEL_MAX_AGE_S
            level = level_from_dbov(source.audio_level_dbov) if fresh else 0.0
            levels[participant] = max(level, levels.get(participant, 0.0))
        return levels


class Sfu:
    """Every room this media instance serves."""

    def __init__(self, configuration: Callable[[str], RTCConfiguration]) -> None:
        self._configuration = configuration
        self.rooms: dict[str, Room] = {}
        self._pending: set[asyncio.Task[list[str]]] = set()
        # Called with (meeting, track ids) when subscriptions to those tracks start, stop, pause
        # or resume (the relays pause what no local participant displays).
        self.on_subscriptions: Callable[[str, list[str]], None] | None = None

    def _subscriptions_changed(self, meeting: str, track_ids: list[str]) -> None:
        if self.on_subscriptions is not None and track_ids:
            self.on_subscriptions(meeting, track_ids)

    def room(self, meeting: str) -> Room:
        room = self.rooms.get(meeting)
        if room is None:
            room = self.rooms[meeting] = Room(meeting)
        return room

    def _peer(self, meeting: str, participant: str) -> Peer:
        room = self.room(meeting)
        peer = room.peers.get(participant)
        if peer is None:
            pc = RTCPeerConnection(self._configuration(participant))
            peer = room.peers[participant] = Peer(meeting, participant, pc)
        return peer

    async def negotiate(
        self,
        meeting: str,
        participant: str,
        sdp: str,
        publish: Mapping[str, str],
        subscribe: Mapping[str, str],
    ) -> str:
        with tracing.span(
            "media",
            "media.negotiate",
            **{"meetmesh.publish_tracks": len(publish), "meetmesh.subscribe_tracks": len(subscribe)},
        ):
            return await self._negotiate(meeting, participant, sdp, publish, subscribe)

    async def _negotiate(
        self,
        meeting: str,
        participant: str,
        sdp: str,
        publish: Mapping[str, str],
        subscribe: Mapping[str, str],
    ) -> str:
        offer = parse_offer(sdp)
        room = self.room(meeting)
        for track_id in subscribe.values():
            if track_id not in room.sources:
                raise NotFound(f"no track {track_id!r} in this meeting", reason=Reason.ERROR_REASON_NOT_FOUND)
            if room.sources[track_id][0] == participant:
                raise _bad("cannot subscribe to one's own track")
        if publish and is_relay(participant):
            raise _bad("a relay only subscribes", "publish")
        for track_id in publish.values():
            if track_id in room.sources:
                raise _bad(f"track {track_id!r} is already published")
        peer = self._peer(meeting, participant)
        async with peer.lock:
            for media in offer.media:
                mid = media.rtp.muxId
                undeclared = mid not in publish and mid not in peer.published_mids
                if media.kind in ("audio", "video") and media.direction in SENDING_DIRECTIONS and undeclared:
                    raise _bad(f"m-line {mid!r} sends media but was not declared with publish")
            offered = {m.rtp.muxId for m in offer.media}
            missing = (set(publish) | set(subscribe)) - offered
            if missing:
                raise _bad(f"the offer has no m-line {sorted(missing)[0]!r}")
            try:
                await peer.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
                self._bind(room, peer, publish, subscribe)
                self._subscriptions_changed(meeting, list(subscribe.values()))
                await peer.pc.setLocalDescription(await peer.pc.createAnswer())
            except (ValueError, TypeError) as exc:
                await self.remove_participant(meeting, participant)
                raise _bad(f"cannot negotiate: {exc}") from None
            except Exception as exc:  # aiortc's InvalidStateError/OperationError and friends
                await self.remove_participant(meeting, participant)
                raise FailedPrecondition(f"cannot negotiate: {type(exc).__name__}") from None
            if is_relay(participant) and not peer.watched:
                peer.watched = True
                self._watch_relay(peer)
            return str(peer.pc.localDescription.sdp)

    def _watch_relay(self, peer: Peer) -> None:
        """A relay peer leaves when its node closes the relay (its DTLS transport closes)."""
        transceivers = peer.pc.getTransceivers()
        if not transceivers:
            return
        transport = transceivers[0].sender.transport

        def changed() -> None:
            room = self.rooms.get(peer.meeting)
            if transport.state in ("closed", "failed") and room and room.peers.get(peer.participant) is peer:
                task = asyncio.ensure_future(self.remove_participant(peer.meeting, peer.participant))
                self._pending.add(task)
                task.add_done_callback(self._pending.discard)

        transport.on("statechange", changed)

    def _bind(self, room: Room, peer: Peer, publish: Mapping[str, str], subscribe: Mapping[str, str]) -> None:
        for transceiver in peer.pc.getTransceivers():
            mid = transceiver.mid or ""
            if mid in publish and mid not in peer.published_mids:
                restrict_codecs(transceiver)
                track_id = publish[mid]
                source = attach_source(transceiver.receiver, transceiver.kind, track_id)
                peer.published[track_id] = source
                peer.published_mids.add(mid)
                room.add_source(peer.participant, track_id, source)
            elif mid in subscribe:
                track_id = subscribe[mid]
                _, source = room.sources[track_id]
                if source.kind != transceiver.kind:
                    raise ValueError(f"m-line {mid} is {transceiver.kind}, track {track_id} is {source.kind}")
                restrict_codecs(transceiver)
                old = peer.subscriptions.pop(track_id, None)
                if old is not None:
                    old.stop()
                track = source.subscribe()
                if not peer.first_frame_seen:
                    track.on_first_frame = peer.first_frame
                transceiver.sender.replaceTrack(track)
                transceiver.direction = "sendonly"
                attach_sender(transceiver, track)
                peer.subscriptions[track_id] = track
                peer.subscription_mids[track_id] = transceiver

    async def add_ice_candidate(
        self, meeting: str, participant: str, line: str, mid: str, index: int
    ) -> None:
        peer = self.room(meeting).peers.get(participant)
        if peer is None:
            raise FailedPrecondition("no peer connection yet: send an offer first")
        if not line:
            return  # end of candidates: aiortc needs no marker
        try:
            candidate = candidate_from_sdp(line.removeprefix("candidate:"))
        except (ValueError, IndexError, AssertionError):  # aiortc asserts the field count
            raise _bad("malformed ICE candidate", "candidate") from None
        candidate.sdpMid = mid
        candidate.sdpMLineIndex = index
        await peer.pc.addIceCandidate(candidate)

    def unsubscribe(self, meeting: str, participant: str, track_ids: list[str]) -> None:
        peer = self.room(meeting).peers.get(participant)
        if peer is None:
            return
        for track_id in track_ids:
            track = peer.subscriptions.pop(track_id, None)
            transceiver = peer.subscription_mids.pop(track_id, None)
            if track is not None:
                track.stop()
            if transceiver is not None:
                transceiver.sender.replaceTrack(None)
        self._subscriptions_changed(meeting, track_ids)

    def set_paused(self, meeting: str, participant: str, track_ids: list[str], paused: bool) -> None:
        """Pause or resume forwarding the given subscriptions of ``participant``."""
        peer = self.room(meeting).peers.get(participant)
        if peer is None:
            raise FailedPrecondition("no peer connection yet: send an offer first")
        unknown = [t for t in track_ids if t not in peer.subscriptions]
        if unknown:
            raise NotFound(f"not subscribed to {unknown[0]!r}", reason=Reason.ERROR_REASON_NOT_FOUND)
        for track_id in track_ids:
            peer.subscriptions[track_id].set_paused(paused)
        self._subscriptions_changed(meeting, track_ids)

    def source(self, meeting: str, track_id: str) -> PacketSource:
        entry = self.room(meeting).sources.get(track_id)
        if entry is None:
            raise NotFound(f"no track {track_id!r} in this meeting", reason=Reason.ERROR_REASON_NOT_FOUND)
        return entry[1]

    def unpublish(self, meeting: str, track_id: str) -> None:
        room = self.room(meeting)
        entry = room.sources.pop(track_id, None)
        if entry is None:
            raise NotFound(f"no track {track_id!r} in this meeting", reason=Reason.ERROR_REASON_NOT_FOUND)
        participant, source = entry
        source.close()
        peer = room.peers.get(participant)
        if peer is not None:
            peer.published.pop(track_id, None)

    async def remove_participant(self, meeting: str, participant: str) -> list[str]:
        room = self.room(meeting)
        peer = room.peers.pop(participant, None)
        if peer is None:
            return []
        ended = list(peer.published)
        for track_id in ended:
            room.sources.pop(track_id, None)
            peer.published[track_id].close()
        for track in peer.subscriptions.values():
            track.stop()
        self._subscriptions_changed(meeting, list(peer.subscriptions))
        with contextlib.suppress(Exception):
            # Shielded: a caller cancelled while it waits on a close that aiortc itself started
            # would cancel aiortc's own "closed" future, and that close then fails.
            await asyncio.shield(peer.pc.close())
        if not room.peers and not room.source_listeners and self.rooms.get(meeting) is room:
            self.rooms.pop(meeting, None)
        return ended

    def local_peers(self, meeting: str) -> int:
        """Participants' peer connections in ``meeting`` (other nodes' relays not counted)."""
        room = self.rooms.get(meeting)
        return sum(1 for p in room.peers if not is_relay(p)) if room else 0

    async def remove_relay_peers(self) -> None:
        """Close every other node's relay from this node (it drains)."""
        for meeting, room in list(self.rooms.items()):
            for participant in [p for p in room.peers if is_relay(p)]:
                await self.remove_participant(meeting, participant)

    async def close(self) -> None:
        for meeting in list(self.rooms):
            for participant in list(self.rooms.get(meeting, Room(meeting)).peers):
                await self.remove_participant(meeting, participant)
