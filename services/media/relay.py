"""Node-to-node relay (cascading SFU): a meeting whose participants sit on several media nodes.

A node that needs tracks published on another node (the *source node*) opens one relay peer
connection per meeting to it and asks for them through the source node's own ``Negotiate``: the
pulling node is the SDP offerer and subscriber, as participant ``relay:<its node address>``,
presenting media's service identity. Each received track gets a :class:`PacketSource` (the same
pre-decoder hook as a publisher's) registered in the local room under the original track id and
publisher, so local subscribers, PLIs and pauses work as for a local track. More tracks from the
same node renegotiate the same connection (one relay per meeting and direction).

What crosses the relay and how:

* media: the source node forwards to the relay peer like to any subscriber (no re-encoding);
* keyframe requests: a local subscriber's PLI reaches the relayed source, which sends an RTCP PLI
  on the relay, which the source node routes to the publisher (``attach_sender``);
* mute: forwarding stops at the source node, so nothing crosses;
* unpublish: signaling calls ``UnpublishTrack`` on the source node and on every other node of the
  meeting, which ends the relayed source and its local subscribers;
* teardown: when either side closes the relay (the source node drains, the pulling node has no
  participant left in the meeting), the DTLS transport closes on both ends: the relayed sources end
  and the source node drops the relay peer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender, RTCRtpTransceiver, RTCSessionDescription
from grpclib.client import Channel
from grpclib.exceptions import GRPCError

from meetmesh.media.internal.v1 import media_grpc, media_pb2
from meetmesh_sdk.demux import route_by_mid
from services.kit import (
    FailedPrecondition,
    InvalidArgument,
    MeetmeshError,
    ServiceIdentity,
    Unavailable,
    channel,
)

from .forwarding import FORWARDED_MIME_TYPES, PacketSource, attach_source
from .sfu import RELAY_PREFIX, Sfu

log = logging.getLogger("meetmesh.media.relay")

NEGOTIATE_TIMEOUT_S = 20.0


def relay_participant(node_address: str) -> str:
    """The participant id a node's relay has on the other nodes."""
    return f"{RELAY_PREFIX}{node_address}"


def prefer_forwarded_codecs(transceiver: RTCRtpTransceiver) -> None:
    """Offer only the codecs the SFU forwards (VP8 + RTX, Opus) on a relay's receiving m-line."""
    codecs = RTCRtpSender.getCapabilities(transceiver.kind).codecs
    transceiver.setCodecPreferences([c for c in codecs if c.mimeType.lower() in FORWARDED_MIME_TYPES])


def on_transport_closed(pc: RTCPeerConnection, callback: Callable[[], None]) -> None:
    """Call ``callback`` once when the DTLS transport of ``pc`` (bundled: one) closes or fails."""
    called = False
    for transceiver in pc.getTransceivers():
        transport = transceiver.receiver.transport

        def changed(transport: object = transport) -> None:
            nonlocal called
            if not called and getattr(transport, "state", "") in ("closed", "failed"):
                called = True
                callback()

        transport.on("statechange", changed)
        return


@dataclass
class RelayLink:
    """This node's relay from ``source_node`` for one meeting: a peer connection it offers."""

    meeting: str
    source_node: str
    pc: RTCPeerConnection
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    tracks: dict[str, PacketSource] = field(default_factory=dict)  # track id -> local source
    watching: bool = False
    closed: bool = False
    paused: set[str] = field(default_factory=set)  # tracks paused at the source node
    pause_sync: asyncio.Task[None] | None = None


class Relays:
    """Every relay this node pulls from other nodes."""

    def __init__(
        self,
        sfu: Sfu,
        address: str,
        configuration: Callable[[str], RTCConfiguration],
        identity: ServiceIdentity | None,
    ) -> None:
        self.sfu = sfu
        self.address = address
        self._configuration = configuration
        self._identity = identity
        self.links: dict[tuple[str, str], RelayLink] = {}  # (meeting, source node) -> link
        self._channels: dict[str, Channel] = {}
        self._closing: set[asyncio.Task[None]] = set()

    def _stub(self, address: str) -> media_grpc.MediaServiceStub:
        if address not in self._channels:
            self._channels[address] = channel(address, self._identity)
        return media_grpc.MediaServiceStub(self._channels[address])

    @property
    def relayed_tracks(self) -> int:
        return sum(len(link.tracks) for link in self.links.values())

    async def pull(self, meeting: str, source_node: str, tracks: Sequence[media_pb2.RelayedTrack]) -> None:
        """Make ``tracks`` (published on ``source_node``) sources of this node's room."""
        if not self.address:
            raise FailedPrecondition("this media node has no node_address: it cannot relay")
        if source_node == self.address:
            raise InvalidArgument([("source_node", "is this node")], "the tracks are on this node already")
        key = (meeting, source_node)
        link = self.links.get(key)
        if link is None:
            link = self.links[key] = RelayLink(
                meeting, source_node, RTCPeerConnection(self._configuration(relay_participant(source_node)))
            )
        async with link.lock:
            if link.closed:
                raise Unavailable("the relay closed meanwhile; try again")
            room = self.sfu.room(meeting)
            wanted = [t for t in tracks if t.track_id not in room.sources]
            if not wanted:
                return
            added = []
            for track in wanted:
                transceiver = link.pc.addTransceiver(track.kind, direction="recvonly")
                route_by_mid(transceiver)  # the other node forwards at once: see meetmesh_sdk.demux
                prefer_forwarded_codecs(transceiver)
                source = attach_source(transceiver.receiver, track.kind, track.track_id)
                source.relayed = True
                added.append((track, transceiver, source))
            try:
                await link.pc.setLocalDescription(await link.pc.createOffer())
                response = await self._stub(source_node).Negotiate(
                    media_pb2.NegotiateRequest(
                        meeting=meeting,
                        participant=relay_participant(self.address),
                        sdp=link.pc.localDescription.sdp,
                        subscribe=[
                            media_pb2.Subscription(mid=transceiver.mid or "", track_id=track.track_id)
                            for track, transceiver, _ in added
                        ],
                    ),
                    timeout=NEGOTIATE_TIMEOUT_S,
                )
                await link.pc.setRemoteDescription(RTCSessionDescription(sdp=response.sdp, type="answer"))
            except Exception as exc:  # the source node's error, or aiortc's on a closed relay
                # aiortc cannot roll an offer back: the whole relay goes; the next pull opens anew.
                log.warning("a relay negotiation failed", extra={"error": type(exc).__name__})
                for _, _, source in added:
                    source.close()
                await self._drop(link)
                if isinstance(exc, GRPCError | MeetmeshError):
                    raise
                raise Unavailable(f"cannot relay from {source_node}: {type(exc).__name__}") from None
            for track, _, source in added:
                link.tracks[track.track_id] = source
                room.add_source(track.participant, track.track_id, source)
            if not link.watching:
                link.watching = True
                on_transport_closed(link.pc, lambda: self._spawn(self._drop(link)))

    def subscriptions_changed(self, meeting: str, track_ids: list[str]) -> None:
        """Local subscriptions to ``track_ids`` changed: a relayed track that every local
        subscriber has paused (not displayed) is paused at the source node too, and resumed as
        soon as one displays it again."""
        for (m, _), link in list(self.links.items()):
            relevant = m == meeting and not link.closed and any(t in link.tracks for t in track_ids)
            if relevant and (link.pause_sync is None or link.pause_sync.done()):
                link.pause_sync = asyncio.ensure_future(self._sync_pauses(link))

    @staticmethod
    def _unwatched(source: PacketSource) -> bool:
        subscribers = source.subscribers
        return bool(subscribers) and all(s.paused for s in subscribers)

    async def _sync_pauses(self, link: RelayLink) -> None:
        """Bring the source node's pauses of this relay in line with the local subscribers (looped:
        what changes during a call is sent next)."""
        stub = self._stub(link.source_node)
        participant = relay_participant(self.address)
        while not link.closed:
            wanted = {t for t, source in link.tracks.items() if self._unwatched(source)}
            pause, resume = sorted(wanted - link.paused), sorted((link.paused - wanted) & set(link.tracks))
            link.paused &= set(link.tracks)
            if not pause and not resume:
                return
            try:
                for track_ids, paused in ((pause, True), (resume, False)):
                    if track_ids:
                        await stub.SetSubscriptionsPaused(
                            media_pb2.SetSubscriptionsPausedRequest(
                                meeting=link.meeting,
                                participant=participant,
                                track_ids=track_ids,
                                paused=paused,
                            ),
                            timeout=5,
                        )
                        link.paused = link.paused | set(track_ids) if paused else link.paused - set(track_ids)
            except (GRPCError, OSError) as exc:  # the relay is closing, or the node is gone
                log.warning("could not pause a relayed track", extra={"error": type(exc).__name__})
                return

    def forget(self, meeting: str, track_id: str) -> None:
        """A relayed track was unpublished (its source closed by the SFU): stop counting it."""
        for (m, _), link in list(self.links.items()):
            removed = link.tracks.pop(track_id, None) if m == meeting else None
            if removed is not None and not link.tracks and not link.lock.locked():
                self._spawn(self._drop(link))  # nothing left to relay: close it

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _drop(self, link: RelayLink) -> None:
        """Close a relay: its relayed sources end (their local subscribers with them)."""
        if link.closed:
            return
        link.closed = True
        if link.pause_sync is not None:
            link.pause_sync.cancel()
        if self.links.get((link.meeting, link.source_node)) is link:
            del self.links[(link.meeting, link.source_node)]
        room = self.sfu.rooms.get(link.meeting)
        for track_id, source in list(link.tracks.items()):
            if room is not None and room.sources.get(track_id, ("", None))[1] is source:
                del room.sources[track_id]
            source.close()
        link.tracks.clear()
        with contextlib.suppress(Exception):
            await asyncio.shield(link.pc.close())  # see SFU.remove_participant
        log.info("relay closed", extra={"meeting": link.meeting, "source_node": link.source_node})

    async def close_meeting(self, meeting: str) -> None:
        """This node serves nobody in ``meeting`` any more: close its relays of it."""
        for link in [link for (m, _), link in self.links.items() if m == meeting]:
            await self._drop(link)

    async def close(self) -> None:
        for link in list(self.links.values()):
            await self._drop(link)
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
        for ch in self._channels.values():
            ch.close()
        self._channels.clear()
