"""The meetmesh Python SDK.

* ``Room``: a signaling session with one peer connection (join, publish, subscribe, chat, events);
* ``join_meeting``: JoinMeeting through the meeting service, then ``Room.connect``;
* sources: ``ColorVideoTrack``, ``ToneAudioTrack``, ``file_tracks``;
* errors: ``SignalingError`` (a rejected request), ``Disconnected`` (the session ended);
* ``GrpcWebChannel`` (``meetmesh_sdk.grpcweb``): the generated stubs over gRPC-web, through the edge;
* ``meetmesh_sdk.cli``: the ``meetmesh`` client commands (docs/cli.md).

The media names import aiortc on first use, so ``meetmesh_sdk.cli`` starts without it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .grpcweb import GrpcWebChannel
    from .meeting import join_meeting
    from .room import Disconnected, RemoteTrack, Room, SignalingError
    from .sources import ColorVideoTrack, ToneAudioTrack, file_tracks

_WHERE = {
    "ColorVideoTrack": "sources",
    "Disconnected": "room",
    "GrpcWebChannel": "grpcweb",
    "RemoteTrack": "room",
    "Room": "room",
    "SignalingError": "room",
    "ToneAudioTrack": "sources",
    "file_tracks": "sources",
    "join_meeting": "meeting",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'meetmesh_sdk' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)


__all__ = [
    "ColorVideoTrack",
    "Disconnected",
    "GrpcWebChannel",
    "RemoteTrack",
    "Room",
    "SignalingError",
    "ToneAudioTrack",
    "file_tracks",
    "join_meeting",
]
