"""The meetmesh Python SDK.

* ``Room``: a signaling session with one peer connection (join, publish, subscribe, chat, events);
* ``join_meeting``: JoinMeeting through the meeting service, then ``Room.connect``;
* sources: ``ColorVideoTrack``, ``ToneAudioTrack``, ``file_tracks``;
* errors: ``SignalingError`` (a rejected request), ``Disconnected`` (the session ended).
"""

from .meeting import join_meeting
from .room import Disconnected, RemoteTrack, Room, SignalingError
from .sources import ColorVideoTrack, ToneAudioTrack, file_tracks

__all__ = [
    "ColorVideoTrack",
    "Disconnected",
    "RemoteTrack",
    "Room",
    "SignalingError",
    "ToneAudioTrack",
    "file_tracks",
    "join_meeting",
]
