"""The ai service's settings: its block ``MEETMESH_AI__*`` holds its endpoint and its own options."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from services.kit import Endpoint, PlatformSettings, service_block


class AiServiceOptions(Endpoint):
    """The ai service's block: where it listens and its own options."""

    # The model repository built by `make models` (shared with Triton).
    model_repository: Path = Path("./var/model_repository")
    # Start and supervise the bundled tritonserver; false to use an external Triton at triton_url.
    manage_triton: bool = True
    # Triton's gRPC address (the bundled one listens here when managed).
    triton_url: str = "127.0.0.1:8001"
    # The managed tritonserver's working folder (logs, the copied Python backend).
    triton_workdir: Path = Path("./var/triton")
    # The managed tritonserver's metrics port.
    triton_metrics_port: int = Field(default=8002, ge=0, le=65535)
    # The longest one inference request may take, in seconds.
    inference_timeout_s: float = Field(default=30.0, gt=0)
    # The MongoDB database of results and analytics, when MEETMESH_MONGO_URL is set (otherwise
    # they live in the service's relational database).
    mongo_database: str = Field(default="meetmesh_ai", pattern=r"^[A-Za-z0-9_-]{1,63}$")
    # A final caption's synthetic-voice score at or above this raises an alert for the host.
    synthetic_alert_threshold: float = Field(default=0.8, ge=0, le=1)
    # Utterances shorter than this (seconds) get a score but never an alert: the detector is
    # trained and calibrated on 1.5-4 s clips and is unreliable on shorter ones.
    synthetic_alert_min_s: float = Field(default=1.5, ge=0)
    # How often an analysis stream sends interim captions, in seconds.
    interim_every_s: float = Field(default=1.0, gt=0)
    # The first interim caption of an utterance is decoded this long after its start (the VAD's
    # 120 ms pad included), and again with every VAD batch (64 ms) until one has text, in seconds.
    first_interim_s: float = Field(default=0.15, gt=0)
    # An analysis stream that sends nothing for this long is closed, in seconds.
    stream_idle_timeout_s: float = Field(default=30.0, gt=0)
    # When a meeting ends, its transcript is completed (the host is told) once its live streams
    # on this instance closed, or after this many seconds, whichever comes first.
    transcript_settle_s: float = Field(default=35.0, gt=0)
    # Faces of every live stream go to the emotion model together, one request at a time
    # (batching.py); faces arriving while the batcher is idle wait this long for company (0: one
    # turn of the event loop), in seconds.
    emotion_batch_tick_s: float = Field(default=0.0, ge=0, le=1)
    # The most faces in one emotion request (a full batch goes at once).
    emotion_batch_max: int = Field(default=64, ge=1, le=64)


class AiSettings(PlatformSettings):
    ai: AiServiceOptions = service_block(AiServiceOptions, "ai")
