"""The user service's settings: its block ``MEETMESH_USER__*`` holds its endpoint and its own options."""

from __future__ import annotations

from pydantic import Field

from services.kit import Endpoint, PlatformSettings, service_block


class UserServiceOptions(Endpoint):
    """The user service's block: where it listens and its own options."""

    # Password hashing, argon2id (the defaults are argon2-cffi's RFC 9106 "low memory" profile):
    # the time cost (iterations).
    argon2_time_cost: int = Field(default=3, ge=1)
    # The password hash's argon2id memory cost, in KiB.
    argon2_memory_kib: int = Field(default=65536, ge=8)
    # The password hash's argon2id parallelism (lanes).
    argon2_parallelism: int = Field(default=4, ge=1)
    # Failed logins: an account is blocked after this many within the window.
    login_failures_per_account: int = Field(default=5, ge=1)
    # Failed logins: a client address is blocked after this many within the window.
    login_failures_per_peer: int = Field(default=20, ge=1)
    # Failed logins: the window, in seconds.
    login_failure_window_s: float = Field(default=900, gt=0)
    # How long a password reset link works.
    password_reset_ttl_s: int = Field(default=3600, ge=60, le=7 * 24 * 3600)
    # The largest avatar upload (the contract allows at most 5 MiB).
    avatar_max_bytes: int = Field(default=5 * 1024 * 1024, ge=1024, le=5 * 1024 * 1024)


class UserSettings(PlatformSettings):
    user: UserServiceOptions = service_block(UserServiceOptions, "user")
