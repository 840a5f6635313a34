"""Which media node serves a meeting.

Media nodes register in ``<prefix>:media:nodes`` (see ``services/media/nodes.py``). A meeting's
node is kept in ``<prefix>:media:room:<meeting>``: set once, to the least-loaded fresh node that
is not draining (ties: the lowest address), shared by every signaling instance. When that node
drains or disappears the meeting is placed again (compare-and-set: every instance agrees on the
new node) and the hub asks the meeting's clients to reconnect, which moves their media.

Without registered nodes (a single media service) every meeting uses the configured media
address, as before.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import redis.asyncio as aioredis
from grpclib.client import Channel

from meetmesh.media.internal.v1 import media_grpc
from services.kit import ServiceIdentity, channel

NODE_TTL_S = 5.0
ROOM_TTL_S = 24 * 3600

# KEYS: room key; ARGV: expected (may be ""), new, ttl. Returns the node the room has afterwards.
_MOVE = """
local current = redis.call('GET', KEYS[1]) or ''
if current == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
  return ARGV[2]
end
return current
"""


@dataclass(frozen=True)
class Node:
    address: str
    load: int
    draining: bool


class MediaPlacement:
    def __init__(
        self,
        redis: aioredis.Redis,
        prefix: str,
        default: media_grpc.MediaServiceStub,
        identity: ServiceIdentity | None,
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.default = default
        self.identity = identity
        self._channels: dict[str, Channel] = {}
        self._move = redis.register_script(_MOVE)

    async def nodes(self) -> dict[str, Node]:
        """Live nodes (heard from within NODE_TTL_S)."""
        raw = await self.redis.hgetall(f"{self.prefix}:media:nodes")
        now, found = time.time(), {}
        for key, value in raw.items():
            address = key.decode() if isinstance(key, bytes) else key
            entry = json.loads(value)
            if now - float(entry.get("at", 0)) <= NODE_TTL_S:
                found[address] = Node(address, int(entry.get("load", 0)), bool(entry.get("draining")))
        return found

    def _room_key(self, meeting: str) -> str:
        return f"{self.prefix}:media:room:{meeting}"

    async def current(self, meeting: str) -> str:
        raw = await self.redis.get(self._room_key(meeting))
        return raw.decode() if isinstance(raw, bytes) else (raw or "")

    async def node_for(self, meeting: str) -> str:
        """The meeting's node, placing it (again) when it has none that can serve it; "" when no
        node is registered (use the default media service)."""
        nodes = await self.nodes()
        if not nodes:
            return ""
        current = await self.current(meeting)
        if current in nodes and not nodes[current].draining:
            return current
        candidates = [n for n in nodes.values() if not n.draining] or list(nodes.values())
        best = min(candidates, key=lambda n: (n.load, n.address))
        placed = await self._move(keys=[self._room_key(meeting)], args=[current, best.address, ROOM_TTL_S])
        return placed.decode() if isinstance(placed, bytes) else str(placed)

    def stub(self, address: str) -> media_grpc.MediaServiceStub:
        if not address:
            return self.default
        if address not in self._channels:
            self._channels[address] = channel(address, self.identity)
        return media_grpc.MediaServiceStub(self._channels[address])

    async def media_for(self, meeting: str) -> media_grpc.MediaServiceStub:
        return self.stub(await self.node_for(meeting))

    def close(self) -> None:
        for ch in self._channels.values():
            ch.close()
        self._channels.clear()
