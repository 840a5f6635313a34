"""The media service's settings: its block ``MEETMESH_MEDIA__*`` holds its endpoint and its own
options (ICE is the platform's ``MEETMESH_ICE__*`` block, shared with signaling)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from services.kit import Endpoint, PlatformSettings, service_block


class MediaOptions(Endpoint):
    """The media service's block: where it listens and the SFU's options (every one has a default
    that works on one machine)."""

    # Recordings go to the platform's object store (``MEETMESH_OBJECTS__*``); while it is down,
    # finished recordings wait here and are uploaded when it returns.
    spool_dir: Path = Path("./var/spool/recordings")
    # Seconds between attempts to upload a spooled recording.
    spool_retry_s: float = Field(default=2.0, gt=0)
    # The meeting service's internal RecordingRegistry and MeetingSettingsService (empty: the
    # platform's meeting endpoint).
    recording_registry_target: str = ""
    # The ai service's internal AnalysisStreamService (empty: the platform's ai endpoint).
    ai_target: str = ""

    # Several media nodes: the address signaling dials for this node (host:port of its gRPC port).
    # Set, the node registers its load in Redis and signaling places meetings on the least loaded
    # node (services/media/nodes.py); empty (one node), signaling uses the platform's media address.
    node_address: str = ""
    # While draining (stopping), wait this long for signaling to move the node's participants.
    drain_timeout_s: float = Field(default=15.0, ge=0)

    # Transcoding: every finished recording becomes a composite MP4 (H.264 + AAC) and HLS, made by
    # the workers of every media process from a Redis Stream (see ``jobs.py``).
    transcode: bool = True
    # The composite video's width, in pixels.
    transcode_width: int = Field(default=1280, ge=64, le=3840, multiple_of=2)
    # The composite video's height, in pixels.
    transcode_height: int = Field(default=720, ge=64, le=2160, multiple_of=2)
    # The composite video's frame rate.
    transcode_fps: int = Field(default=30, ge=1, le=60)
    # The x264 preset (speed against size).
    transcode_preset: str = "veryfast"
    # A job pending this long without its worker's heartbeat is taken over by another worker.
    transcode_claim_idle_s: float = Field(default=30.0, gt=0)

    # The AI tap samples one video frame per participant this often.
    ai_video_interval_s: float = Field(default=1.0, gt=0)


class MediaSettings(PlatformSettings):
    media: MediaOptions = service_block(MediaOptions, "media")
