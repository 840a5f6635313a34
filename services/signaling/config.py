"""Signaling's settings: its block ``MEETMESH_SIGNALING__*`` holds its endpoint and its own options
(ICE servers are the platform's ``MEETMESH_ICE__*`` block, shared with media)."""

from __future__ import annotations

import uuid

from pydantic import Field

from services.kit import Endpoint, PlatformSettings, service_block


class SignalingOptions(Endpoint):
    """Signaling's block: where it listens and its own options."""

    # Names this instance on the Redis bus (unique per process).
    instance_id: str = Field(default_factory=lambda: uuid.uuid4().hex[:12])
    # The media service (empty: the platform's media endpoint).
    media_target: str = ""
    # The meeting service's internal MeetingSettingsService (empty: the platform's meeting endpoint).
    meeting_target: str = ""
    # How long a dropped session can be resumed before the participant leaves.
    resume_grace_s: float = Field(default=20.0, ge=0)
    # Chat and data messages per participant: the sustained rate, per second.
    chat_rate_per_s: float = Field(default=5.0, gt=0)
    # Chat and data messages per participant: the largest burst.
    chat_burst: float = Field(default=20.0, ge=1)
    # Largest WebSocket frame accepted on /rtc.
    max_frame_bytes: int = Field(default=65536, ge=1024)
    # Seconds a new session (gRPC Connect or WebSocket /rtc) has to send `join` before it is closed.
    join_timeout_s: float = Field(default=10.0, gt=0)
    # Requests a session may get wrong before join, and in total, before it is closed.
    max_errors: int = Field(default=20, ge=1)
    # Several media nodes: the most participants of one meeting a media node takes before the
    # meeting's next participants go to another node, the room then spanning nodes through
    # node-to-node relay (cascading SFU, docs/media.md). 0: no limit (a meeting stays on one node).
    # Every signaling instance must use the same value.
    room_node_capacity: int = Field(default=0, ge=0)
    # A participant counts as speaking above this audio level (0..1).
    speaking_level: float = Field(default=0.02, ge=0, le=1)


class SignalingSettings(PlatformSettings):
    signaling: SignalingOptions = service_block(SignalingOptions, "signaling")
