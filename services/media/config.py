"""Media service settings (``MEETMESH_MEDIA__*`` environment variables; ICE is the platform's
``MEETMESH_ICE__*`` block, shared with signaling)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class MediaSettings(BaseSettings):
    """Settings of the SFU; every field has a default that works on one machine."""

    model_config = SettingsConfigDict(env_prefix="MEETMESH_MEDIA__", extra="ignore")

    # Recordings go to the platform's object store (``MEETMESH_OBJECTS__*``); while it is down,
    # finished recordings wait here and are uploaded when it returns.
    spool_dir: Path = Path("./var/spool/recordings")
    spool_retry_s: float = Field(default=2.0, gt=0)
    # The meeting service's internal RecordingRegistry and MeetingSettingsService (empty: the
    # platform's meeting endpoint).
    recording_registry_target: str = ""
    # The ai service's internal AnalysisStreamService (empty: the platform's ai endpoint).
    ai_target: str = ""

    # The AI tap samples one video frame per participant this often.
    ai_video_interval_s: float = Field(default=1.0, gt=0)
