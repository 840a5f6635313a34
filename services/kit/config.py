"""Typed settings shared by every service.

One ``PlatformSettings`` object describes the whole platform: where the stores are, where each
service listens, token lifetimes. Every field has a default that works on one machine and an
environment variable that overrides it: ``MEETMESH_<FIELD>`` for top-level fields and
``MEETMESH_<SERVICE>__<FIELD>`` for a service's block (for example
``MEETMESH_MEETING__GRPC_PORT=9999``). A service with options of its own subclasses this class and
widens its block: an ``Endpoint`` subclass that adds the options (see :func:`service_block`), so
they are ``MEETMESH_<SERVICE>__<OPTION>`` too (``MEETMESH_USER__ARGON2_TIME_COST``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Self, TypeVar

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .context import parse_networks
from .ice import IceSettings
from .objects import ObjectStoreSettings
from .tracing import TracingSettings


class Endpoint(BaseModel):
    """Where one service listens and how others reach it."""

    # The address the service listens on.
    host: str = "127.0.0.1"
    # Its gRPC port (0: any free port).
    grpc_port: int = Field(ge=0, le=65535)
    # Its HTTP side port: /metrics, /healthz and service routes (0: any free port).
    http_port: int = Field(ge=0, le=65535)
    # How other services reach this one; empty means host:grpc_port.
    target: str = ""

    @property
    def address(self) -> str:
        return self.target or f"{self.host}:{self.grpc_port}"


B = TypeVar("B", bound=Endpoint)


class PlatformSettings(BaseSettings):
    """Settings for the whole platform; see the module docstring for the environment names."""

    model_config = SettingsConfigDict(
        env_prefix="MEETMESH_",
        env_nested_delimiter="__",
        # A block's variables update its default (MEETMESH_MEETING__GRPC_PORT alone keeps the
        # other fields of the meeting block as they were).
        nested_model_default_partial_update=True,
        extra="ignore",
        frozen=False,
    )

    # The relational store: `postgresql+asyncpg://user@host:port/db`, or SQLite (the embedded default).
    database_url: str = "sqlite+aiosqlite:///./var/meetmesh.db"
    # Redis: `redis://host:port/db`, or `memory://`, the in-process Redis shared by the services of
    # one process (the embedded default).
    redis_url: str = "memory://"
    # Prefix of every Redis key and channel.
    redis_prefix: str = "mm"
    # MongoDB (``mongodb://...``) for AI results and meeting analytics; empty: the relational store.
    mongo_url: str = ""
    # How long a call waits for a store (PostgreSQL, Redis, MongoDB) that does not answer before it
    # fails with UNAVAILABLE: connecting, choosing a MongoDB server, and each Redis command (a
    # Redis that hangs: within 1.25 times this, kit/redis.py).
    store_timeout_s: float = Field(default=3.0, gt=0, le=60)
    # Prepended to each service's PostgreSQL schema name (several platforms in one database).
    schema_prefix: str = ""
    # Objects (recordings, avatars, attachments): S3 when ``MEETMESH_OBJECTS__ENDPOINT`` is set,
    # else a local folder the edge serves under signed URLs.
    objects: ObjectStoreSettings = Field(default_factory=ObjectStoreSettings)
    # WebRTC ICE for signaling and media alike: STUN/TURN servers, TURN credentials, host-candidate
    # addresses, UDP port range (``MEETMESH_ICE__*``).
    ice: IceSettings = Field(default_factory=IceSettings)
    # Where signing keys live (created on first use; never committed).
    keys_dir: Path = Path("./var/keys")
    # The JWT issuer name.
    issuer: str = "meetmesh"

    # Lifetime of access tokens, in seconds.
    access_token_ttl_s: int = Field(default=900, ge=10)
    # Lifetime of refresh tokens, in seconds (30 days).
    refresh_token_ttl_s: int = Field(default=30 * 24 * 3600, ge=60)
    # Lifetime of join tokens, in seconds.
    join_token_ttl_s: int = Field(default=300, ge=10)

    # Log level (DEBUG, INFO, WARNING, ERROR).
    log_level: str = "INFO"
    # JSON lines (true) or plain text logs.
    log_json: bool = True
    # A Loki push API that gets every log line too (VictoriaLogs:
    # `http://host:9428/insert/loki/api/v1/push?_msg_field=msg`); empty: stderr only.
    log_push_url: str = ""
    # Tracing (OpenTelemetry over OTLP): MEETMESH_TRACING__ENDPOINT, __SAMPLE_RATIO; off by default.
    tracing: TracingSettings = Field(default_factory=TracingSettings)
    # Seconds a stopping service waits for in-flight calls.
    shutdown_grace_s: float = Field(default=10.0, ge=0)
    # What serves the services' gRPC ports: the kit's own server (grpclib's handlers on the kit's
    # HTTP/2 connection; docs/kit.md, "The gRPC server") or grpclib's.
    grpc_server: Literal["kit", "grpclib"] = "kit"
    # Largest request message a service accepts, in bytes.
    max_message_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    # Proxies (the edge, Envoy) whose `x-forwarded-for` names the end client, as CIDR blocks,
    # e.g. MEETMESH_TRUSTED_PROXIES='["10.0.0.5/32"]'. Anyone else is known by its own address.
    trusted_proxies: list[str] = Field(default_factory=list)

    user: Endpoint = Endpoint(grpc_port=8080, http_port=9080)
    signaling: Endpoint = Endpoint(grpc_port=8081, http_port=9081)
    meeting: Endpoint = Endpoint(grpc_port=8082, http_port=9082)
    media: Endpoint = Endpoint(grpc_port=8083, http_port=9083)
    ai: Endpoint = Endpoint(grpc_port=9085, http_port=8085)
    notification: Endpoint = Endpoint(grpc_port=8086, http_port=9086)

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        if not value.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite://")):
            raise ValueError("database_url must use postgresql+asyncpg:// or sqlite+aiosqlite://")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        parse_networks(value)  # ValueError names the malformed entry
        return value

    @classmethod
    def of(cls, settings: PlatformSettings) -> Self:
        """``settings`` as this class (a service's settings class): the same object when it is one
        already, else the platform's values with this class's own options from the environment."""
        return settings if isinstance(settings, cls) else cls(**settings.model_dump())

    def endpoint(self, service: str) -> Endpoint:
        endpoint = getattr(self, service, None)
        if not isinstance(endpoint, Endpoint):
            raise KeyError(f"unknown service {service!r}")
        return endpoint


def default_endpoint(service: str) -> Endpoint:
    """The port table's entry for ``service`` (the settings' defaults, never the environment's)."""
    field = PlatformSettings.model_fields.get(service)
    default = field.default if field is not None else None
    if not isinstance(default, Endpoint):
        raise KeyError(f"unknown service {service!r}")
    return default


def service_block(block: type[B], service: str, **options: Any) -> B:
    """``service``'s block as ``block`` (an ``Endpoint`` subclass adding the service's own options):
    the platform's default endpoint for it, with ``options`` set. A service's settings class declares
    ``<service>: block = service_block(block, "<service>")``."""
    return block(**default_endpoint(service).model_dump(), **options)
