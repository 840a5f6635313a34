"""The meeting service's settings: its block ``MEETMESH_MEETING__*`` holds its endpoint and its own
options."""

from __future__ import annotations

from pydantic import Field

from services.kit import Endpoint, PlatformSettings, service_block


class MeetingServiceOptions(Endpoint):
    """The meeting service's block: where it listens and its own options."""

    # Capacity of a meeting created without one.
    default_capacity: int = Field(default=100, ge=1, le=1000)
    # Passcodes are short secrets; argon2id with OWASP's minimum profile keeps a join fast:
    # its time cost (iterations).
    passcode_argon2_time_cost: int = Field(default=2, ge=1)
    # The passcode hash's argon2id memory cost, in KiB.
    passcode_argon2_memory_kib: int = Field(default=19456, ge=8)
    # Wrong passcodes: a (meeting, caller) pair is blocked after this many within the window.
    passcode_failures: int = Field(default=5, ge=1)
    # Wrong passcodes: the window, in seconds.
    passcode_failure_window_s: float = Field(default=300, gt=0)
    # The longest a JoinMeeting with wait_for_admission blocks before answering WAITING.
    lobby_max_wait_s: float = Field(default=30.0, gt=0)
    # Where clients reach signaling (native gRPC); empty means the signaling endpoint's address.
    public_signaling_address: str = ""
    # The WebSocket path browsers use for signaling (told to clients in `JoinMeeting`).
    signaling_websocket_path: str = "/rtc"
    # How long a cached meeting may be served without an event (changes invalidate it at once).
    cache_ttl_s: float = Field(default=5.0, ge=0)


class MeetingSettings(PlatformSettings):
    meeting: MeetingServiceOptions = service_block(MeetingServiceOptions, "meeting")
