"""BUNDLE demultiplexing by MID for aiortc peer connections (RFC 8843, section 9.2).

aiortc routes an RTP packet whose SSRC it does not know yet to the one receiver registered for
its payload type, and keeps that SSRC there for good. When a new m-line is negotiated on a live
connection, the answering side may send on it before this side has applied the answer and
registered the new receiver; those packets then go to the OTHER receiver of the same payload type
(another participant's video), which shows that stream from then on. meetmesh's SFU forwards
packets the moment a subscription is bound, so this happened (a bot decoded one participant's
colour on another's track). Browsers demultiplex by the MID header extension instead, and so does
this router: a packet carrying a MID goes to that m-line's receiver, or nowhere while the m-line
is not accepted yet; only a packet without a MID falls back to aiortc's own rule.
"""

from __future__ import annotations

from typing import Any

from aiortc.rtcdtlstransport import RtpRouter
from aiortc.rtp import RtpPacket


class MidRouter(RtpRouter):
    def route_rtp(self, packet: RtpPacket) -> Any:
        if packet.ssrc not in self.ssrc_table:
            mid = packet.extensions.mid
            if mid is not None:
                receiver = self.mid_table.get(mid)
                if receiver is not None:
                    self.ssrc_table[packet.ssrc] = receiver
                return receiver  # None: an m-line not accepted here yet, dropped, never guessed
        return super().route_rtp(packet)


def route_by_mid(transceiver: Any) -> None:
    """Make the transport under ``transceiver`` (its receiver's) demultiplex by MID; idempotent
    (the tables registered so far are kept)."""
    router = transceiver.receiver.transport._rtp_router
    if type(router) is RtpRouter:
        router.__class__ = MidRouter
