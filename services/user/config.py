"""The user service's settings (``MEETMESH_USER_SVC__*`` for its own knobs)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from services.kit import PlatformSettings


class UserServiceOptions(BaseModel):
    # argon2id cost; the defaults are argon2-cffi's RFC 9106 "low memory" profile.
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_kib: int = Field(default=65536, ge=8)
    argon2_parallelism: int = Field(default=4, ge=1)
    # Failed logins: an account is blocked after this many within the window; a peer after more.
    login_failures_per_account: int = Field(default=5, ge=1)
    login_failures_per_peer: int = Field(default=20, ge=1)
    login_failure_window_s: float = Field(default=900, gt=0)
    # The largest avatar upload (the contract allows at most 5 MiB).
    # How long a password reset link works.
    password_reset_ttl_s: int = Field(default=3600, ge=60, le=7 * 24 * 3600)
    avatar_max_bytes: int = Field(default=5 * 1024 * 1024, ge=1024, le=5 * 1024 * 1024)


class UserSettings(PlatformSettings):
    user_svc: UserServiceOptions = UserServiceOptions()
