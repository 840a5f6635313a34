"""Media service settings (``MEETMESH_MEDIA_*`` environment variables)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class MediaSettings(BaseSettings):
    """Settings of the SFU; every field has a default that works on one machine."""

    model_config = SettingsConfigDict(env_prefix="MEETMESH_MEDIA_", extra="ignore")

    # Host candidates are gathered on these addresses only (empty: every interface but loopback).
    ice_host_addresses: list[str] = Field(default_factory=lambda: ["127.0.0.1"])
    # UDP port range for host candidates (0, 0: ephemeral ports).
    udp_port_min: int = Field(default=0, ge=0, le=65535)
    udp_port_max: int = Field(default=0, ge=0, le=65535)
    stun_urls: list[str] = Field(default_factory=list)
    turn_urls: list[str] = Field(default_factory=list)
    # Static TURN credentials, or a coturn ``static-auth-secret`` to derive time-limited ones.
    turn_username: str = ""
    turn_password: str = ""
    turn_secret: str = ""

    # Recordings go to the platform's object store (``MEETMESH_OBJECTS__*``); while it is down,
    # finished recordings wait here and are uploaded when it returns.
    spool_dir: Path = Path("./var/spool/recordings")
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
    transcode_width: int = Field(default=1280, ge=64, le=3840, multiple_of=2)
    transcode_height: int = Field(default=720, ge=64, le=2160, multiple_of=2)
    transcode_fps: int = Field(default=30, ge=1, le=60)
    transcode_preset: str = "veryfast"
    # A job pending this long without its worker's heartbeat is taken over by another worker.
    transcode_claim_idle_s: float = Field(default=30.0, gt=0)

    # The AI tap samples one video frame per participant this often.
    ai_video_interval_s: float = Field(default=1.0, gt=0)

    @model_validator(mode="after")
    def _port_range(self) -> MediaSettings:
        if (self.udp_port_min == 0) != (self.udp_port_max == 0) or self.udp_port_min > self.udp_port_max:
            raise ValueError("udp_port_min and udp_port_max must both be 0 or form a range")
        return self

    @property
    def port_range(self) -> tuple[int, int] | None:
        return (self.udp_port_min, self.udp_port_max) if self.udp_port_min else None
