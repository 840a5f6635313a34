"""What a service is built from: settings, the signing key, Redis and its database.

``Runtime`` is created once per process; in the all-in-one ``meetmesh up`` every service shares it
(and so shares the in-process Redis). Each service's ``server.create(runtime)`` returns a
``ServiceSpec``; ``ServiceHost`` runs it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import redis.asyncio as aioredis

from .auth import TokenService
from .clients import ServiceIdentity
from .config import PlatformSettings
from .db import Database
from .joins import JoinSessions
from .keys import SERVICE_KEY_FILE, load_or_create
from .objects import ObjectStore, object_store
from .redis import create_redis
from .revocation import Revocations


@dataclass
class Runtime:
    settings: PlatformSettings
    # PostgreSQL schema prefix; None means the settings' schema_prefix.
    schema_prefix: str | None = None
    _tokens: TokenService | None = field(default=None, repr=False)
    _redis: aioredis.Redis | None = field(default=None, repr=False)
    _revocations: Revocations | None = field(default=None, repr=False)
    _databases: dict[str, Database] = field(default_factory=dict, repr=False)
    _objects: ObjectStore | None = field(default=None, repr=False)

    @property
    def tokens(self) -> TokenService:
        if self._tokens is None:
            keys_dir = self.settings.keys_dir
            self._tokens = TokenService(
                load_or_create(keys_dir),
                self.settings.issuer,
                service_key=load_or_create(keys_dir, SERVICE_KEY_FILE),
            )
        return self._tokens

    def identity(self, service: str) -> ServiceIdentity:
        """The credential ``service`` presents on other services' internal methods."""
        return ServiceIdentity(self.tokens, service)

    @property
    def redis(self) -> aioredis.Redis:
        if self._redis is None:
            timeout_s = self.settings.store_timeout_s
            self._redis = create_redis(self.settings.redis_url, timeout_s, timeout_s)
        return self._redis

    @property
    def revocations(self) -> Revocations:
        """Revoked sessions and users; written by the user service, checked by every service.
        One per process, following revocations from every instance once started."""
        if self._revocations is None:
            ttl = self.settings.access_token_ttl_s + 60
            self._revocations = Revocations(self.redis, self.settings.redis_prefix, ttl)
            self._revocations.start()
        return self._revocations

    @property
    def joins(self) -> JoinSessions:
        """Live join sessions: written by the meeting service, read by signaling and media."""
        return JoinSessions(self.redis, self.settings.redis_prefix)

    @property
    def objects(self) -> ObjectStore:
        """The object store (S3 or the local folder), one per process."""
        if self._objects is None:
            self._objects = object_store(self.settings.objects, self.settings.keys_dir)
        return self._objects

    def database(self, service: str) -> Database:
        if service not in self._databases:
            self._databases[service] = Database(
                self.settings.database_url,
                service,
                schema_prefix=self.settings.schema_prefix
                if self.schema_prefix is None
                else self.schema_prefix,
                connect_timeout_s=self.settings.store_timeout_s,
            )
        return self._databases[service]

    async def drop_schemas(self) -> None:
        """Drop the schema of every database this runtime has opened (tests clean up with this)."""
        for db in list(self._databases.values()):
            await db.drop_schema()

    async def close(self) -> None:
        if self._revocations is not None:
            await self._revocations.stop()
            self._revocations = None
        for db in self._databases.values():
            await db.close()
        self._databases.clear()
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None
