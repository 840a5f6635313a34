"""Trickle ICE: a client whose offer carries no candidates sends them as ``trickle`` messages, before
the offer (signaling keeps them until media has the peer connection) or after it; the SFU's ICE
agent gets them as the client's host candidates, and media flows."""

from __future__ import annotations

import asyncio

from aiortc import RTCPeerConnection, RTCSessionDescription

from meetmesh.signaling.v1 import signaling_pb2 as pb
from meetmesh_sdk.sources import ColorVideoTrack, dominant_rgb
from tests.rtc_helpers import RawSession, Rtc, close_to, wait_for

BLUE = (30, 30, 220)


def split_candidates(sdp: str) -> tuple[str, list[str]]:
    """The SDP without its candidate lines, and those lines (without ``a=``)."""
    lines = sdp.splitlines()
    candidates = [line[2:] for line in lines if line.startswith("a=candidate:")]
    kept = [line for line in lines if not line.startswith(("a=candidate:", "a=end-of-candidates"))]
    return "\r\n".join(kept) + "\r\n", candidates


def sfu_remote_candidates(rtc: Rtc, pid: str) -> list[tuple[str, int, str]]:
    """(address, port, type) of the remote candidates the SFU's ICE agent knows for ``pid``."""
    peer = rtc.media.sfu.rooms[rtc.meeting.name.split("/")[1]].peers[pid]
    found = []
    for transceiver in peer.pc.getTransceivers():
        for candidate in transceiver.receiver.transport.transport.getRemoteCandidates():
            found.append((candidate.ip, candidate.port, candidate.type))
    return found


async def trickled_subscriber(rtc: Rtc, track_id: str, before_offer: int) -> None:
    """Subscribe to ``track_id`` with candidates trickled; ``before_offer`` of them before the offer."""
    token, _ = await rtc.join_token()
    pc = RTCPeerConnection()
    received: asyncio.Future[object] = asyncio.get_running_loop().create_future()
    pc.on("track", lambda track: received.done() or received.set_result(track))
    try:
        async with RawSession(rtc.signaling_address) as s:
            pid = (await s.join(token)).participant.id
            transceiver = pc.addTransceiver("video", direction="recvonly")
            await pc.setLocalDescription(await pc.createOffer())
            sdp, candidates = split_candidates(pc.localDescription.sdp)
            assert candidates, "aiortc gathered no host candidate"
            mid = transceiver.mid or "0"

            async def trickle(lines: list[str]) -> None:
                for line in lines:
                    await s.send(trickle=pb.IceCandidate(candidate=line, sdp_mid=mid, sdp_mline_index=0))

            await trickle(candidates[:before_offer])
            sub = pb.UpdateSubscription(subscribe=[pb.TrackSubscription(track_id=track_id, mid=mid)])
            await s.send(request_id=2, subscription=sub)
            await s.send(request_id=3, offer=pb.SessionDescription(type="offer", sdp=sdp))
            answer = await s.next("answer")
            assert answer.request_id == 3
            await trickle(candidates[before_offer:])
            await s.send(trickle=pb.IceCandidate(candidate="", sdp_mid=mid))  # end of candidates
            await s.send(request_id=4, ping=pb.Ping(timestamp_ms=1))
            # Every message before the ping was applied without an error (room events such as
            # the first active_speakers may come in between).
            answers = [(await s.next()).WhichOneof("message")]
            while answers[-1] not in ("pong", "error"):
                answers.append((await s.next()).WhichOneof("message"))
            assert answers[-1] == "pong", answers
            await pc.setRemoteDescription(RTCSessionDescription(sdp=answer.answer.sdp, type="answer"))

            ports = {int(line.split()[5]) for line in candidates}
            await wait_for(
                lambda: ports <= {p for _, p, kind in sfu_remote_candidates(rtc, pid) if kind == "host"}
            )
            track = await asyncio.wait_for(received, 10)
            frame = None
            for _ in range(3):
                frame = await asyncio.wait_for(track.recv(), 10)  # type: ignore[attr-defined]
            assert close_to(dominant_rgb(frame), BLUE)
    finally:
        await pc.close()


async def test_candidates_trickled_before_and_after_the_offer_reach_the_sfu(rtc: Rtc) -> None:
    publisher = await rtc.bot()
    video = await publisher.publish(ColorVideoTrack(BLUE))
    await trickled_subscriber(rtc, video, before_offer=1)


async def test_candidates_trickled_only_after_the_offer_reach_the_sfu(rtc: Rtc) -> None:
    publisher = await rtc.bot()
    video = await publisher.publish(ColorVideoTrack(BLUE))
    await trickled_subscriber(rtc, video, before_offer=0)


async def test_a_malformed_candidate_is_rejected_and_the_session_continues(rtc: Rtc) -> None:
    token, _ = await rtc.join_token()
    async with RawSession(rtc.signaling_address) as s:
        await s.join(token)
        for request_id in range(2, 2 + 65):  # one more than signaling keeps before an offer
            await s.send(
                request_id=request_id,
                trickle=pb.IceCandidate(candidate="candidate:1 1 udp 1 127.0.0.1 9 typ host"),
            )
        too_many = await s.next("error")
        assert too_many.request_id == 66
        assert too_many.error.reason == "INVALID_FIELD"
        assert not too_many.error.fatal
        pc = RTCPeerConnection()
        try:
            pc.addTransceiver("audio", direction="recvonly")
            await pc.setLocalDescription(await pc.createOffer())
            await s.send(
                request_id=70, offer=pb.SessionDescription(type="offer", sdp=pc.localDescription.sdp)
            )
            assert (await s.next("answer")).request_id == 70
            await s.send(request_id=71, trickle=pb.IceCandidate(candidate="candidate:garbage", sdp_mid="0"))
            bad = await s.next("error")
            assert bad.request_id == 71
            assert bad.error.reason == "INVALID_ARGUMENT"
            await s.send(request_id=72, ping=pb.Ping(timestamp_ms=5))
            assert (await s.next("pong")).pong.timestamp_ms == 5
        finally:
            await pc.close()
