"""The shared service kit: what every meetmesh service is built on.

Public surface:

* settings: ``PlatformSettings``, ``Endpoint``, ``service_block``
* errors: ``MeetmeshError`` and its subclasses (see ``errors.py`` for the picture)
* auth: ``Principal``, ``TokenService``, ``current_principal``; policy from the contract:
  ``MethodPolicy``, ``current_policy`` (see ``policy.py``)
* running: ``ServiceSpec``, ``ServiceHost``, ``Runtime``
* stores: ``Database``, ``create_redis``; rate limits: ``TokenBucket``, ``FailureThrottle``;
  live join sessions: ``JoinSessions``
* calls: ``channel``, ``ServiceIdentity``, ``downstream_timeout``, ``client_address``
* validation: ``validate``
* logs: ``configure_logging``, ``redact``
"""

from .auth import Principal, TokenService, current_principal, optional_principal
from .clients import ServiceIdentity, channel
from .config import Endpoint, PlatformSettings, service_block
from .context import client_address, downstream_timeout
from .db import Database
from .errors import (
    AlreadyExists,
    FailedPrecondition,
    Internal,
    InvalidArgument,
    MeetmeshError,
    NotFound,
    PermissionDenied,
    Reason,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
    outage,
)
from .joins import JoinSessions
from .logs import configure as configure_logging
from .logs import redact
from .policy import MethodPolicy
from .ratelimit import FailureThrottle, TokenBucket
from .redis import create_redis
from .runtime import Runtime
from .server import ServiceHost, ServiceSpec, current_policy
from .validation import validate

__all__ = [
    "AlreadyExists",
    "Database",
    "Endpoint",
    "FailedPrecondition",
    "FailureThrottle",
    "Internal",
    "InvalidArgument",
    "JoinSessions",
    "MeetmeshError",
    "MethodPolicy",
    "NotFound",
    "PermissionDenied",
    "PlatformSettings",
    "Principal",
    "Reason",
    "ResourceExhausted",
    "Runtime",
    "ServiceHost",
    "ServiceIdentity",
    "ServiceSpec",
    "TokenBucket",
    "TokenService",
    "Unauthenticated",
    "Unavailable",
    "channel",
    "client_address",
    "configure_logging",
    "create_redis",
    "current_policy",
    "current_principal",
    "downstream_timeout",
    "optional_principal",
    "outage",
    "redact",
    "service_block",
    "validate",
]
