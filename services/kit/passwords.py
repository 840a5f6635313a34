"""argon2id hashing of secrets (passwords, meeting passcodes), off the event loop."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError


class Secrets:
    """Hashes and verifies secrets with argon2id in a worker thread."""

    def __init__(self, *, time_cost: int, memory_kib: int, parallelism: int) -> None:
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)

    async def hash(self, secret: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, secret)

    def hash_now(self, secret: str) -> str:
        """Hash on the calling thread (start-up only)."""
        return self._hasher.hash(secret)

    async def verify(self, stored_hash: str, secret: str) -> bool:
        return await asyncio.to_thread(self._verify, stored_hash, secret)

    def _verify(self, stored_hash: str, secret: str) -> bool:
        try:
            return bool(self._hasher.verify(stored_hash, secret))
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored_hash: str) -> bool:
        return bool(self._hasher.check_needs_rehash(stored_hash))
