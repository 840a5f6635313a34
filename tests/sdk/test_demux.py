"""BUNDLE demultiplexing by MID (meetmesh_sdk.demux): a packet for an m-line this side has not
accepted yet is dropped, where aiortc's own router hands it to the other receiver of its payload
type for good (a CI run saw one participant's colour decoded on another's track)."""

from __future__ import annotations

from aiortc.rtcdtlstransport import RtpRouter
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import HeaderExtensionsMap, RtpPacket

from meetmesh_sdk.demux import MidRouter

MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"


def _packet(ssrc: int, mid: str) -> RtpPacket:
    """A VP8 packet as the SFU sends it, through aiortc's own serialiser and parser."""
    extensions = HeaderExtensionsMap()
    extensions.configure(
        RTCRtpParameters(headerExtensions=[RTCRtpHeaderExtensionParameters(id=1, uri=MID_URI)])
    )
    packet = RtpPacket(payload_type=96, sequence_number=1, timestamp=1, ssrc=ssrc, payload=b"\x10\x00")
    packet.extensions.mid = mid
    return RtpPacket.parse(packet.serialize(extensions), extensions)


def test_a_packet_for_an_m_line_not_accepted_yet_is_dropped_not_guessed() -> None:
    green, blue = object(), object()
    for router_class, misroutes in ((RtpRouter, True), (MidRouter, False)):
        router = router_class()
        router.register_receiver(green, ssrcs=[1111], payload_types=[96], mid="1")
        early = _packet(2222, "2")  # blue's m-line: offered, its answer not applied yet
        routed = router.route_rtp(early)
        assert (routed is green) is misroutes, router_class.__name__
        router.register_receiver(blue, ssrcs=[2222], payload_types=[96], mid="2")  # the answer
        assert router.route_rtp(_packet(2222, "2")) is blue
        assert router.route_rtp(_packet(1111, "1")) is green


def test_an_unsignalled_ssrc_is_learned_from_its_mid() -> None:
    green, blue = object(), object()
    router = MidRouter()
    router.register_receiver(green, ssrcs=[], payload_types=[96], mid="1")
    router.register_receiver(blue, ssrcs=[], payload_types=[96], mid="2")
    assert router.route_rtp(_packet(3333, "2")) is blue
    assert router.ssrc_table[3333] is blue
