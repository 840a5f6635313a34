"""Which media node serves a meeting.

Media nodes register in ``<prefix>:media:nodes`` (see ``services/media/nodes.py``). A meeting's
node is kept in ``<prefix>:media:room:<meeting>``: set once, to the least-loaded fresh node that
is not draining (ties: the lowest address), shared by every signaling instance. When that node
drains or disappears the meeting is placed again (compare-and-set: every instance agrees on the
new node) and the hub asks the meeting's clients to reconnect, which moves their media.

A meeting may span nodes (cascading SFU, ``room_node_capacity`` > 0): each participant then has
its own node, kept in the hash ``<prefix>:media:peers:<meeting>`` (participant -> node). A new
participant goes to the first usable node (the meeting's node first, then the others by load and
address) holding fewer than ``room_node_capacity`` of the meeting's participants; when every node
is full, to the one holding fewest (ties: the same order). One Lua script decides, so every
signaling instance agrees. The nodes relay tracks to each other (``services/media/relay.py``).

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


# KEYS: the meeting's participant -> node hash; ARGV: participant, capacity, ttl, then the usable
# nodes, preferred first. Returns the participant's node.
_PLACE = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
local nodes = {}
for i = 4, #ARGV do nodes[#nodes + 1] = ARGV[i] end
if current then
  for _, node in ipairs(nodes) do
    if node == current then return current end
  end
end
local counts = {}
for _, node in ipairs(redis.call('HVALS', KEYS[1])) do counts[node] = (counts[node] or 0) + 1 end
local capacity = tonumber(ARGV[2])
local chosen = nil
for _, node in ipairs(nodes) do
  if (counts[node] or 0) < capacity then chosen = node break end
end
if not chosen then
  local fewest = nil
  for _, node in ipairs(nodes) do
    local count = counts[node] or 0
    if fewest == nil or count < fewest then fewest, chosen = count, node end
  end
end
redis.call('HSET', KEYS[1], ARGV[1], chosen)
redis.call('EXPIRE', KEYS[1], ARGV[3])
return chosen
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
        room_node_capacity: int = 0,
    ) -> None:
        self.redis = redis
        self.capacity = room_node_capacity
        self.prefix = prefix
        self.default = default
        self.identity = identity
        self._channels: dict[str, Channel] = {}
        self._move = redis.register_script(_MOVE)
        self._place = redis.register_script(_PLACE)

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

    async def node_for(self, meeting: str, nodes: dict[str, Node] | None = None) -> str:
        """The meeting's node, placing it (again) when it has none that can serve it; "" when no
        node is registered (use the default media service)."""
        if nodes is None:
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

    def _peers_key(self, meeting: str) -> str:
        return f"{self.prefix}:media:peers:{meeting}"

    async def participant_node(self, meeting: str, participant: str) -> str:
        """The participant's node, placing it (again) when it has none that can serve it: the
        meeting's node unless the meeting may span nodes (``room_node_capacity``)."""
        nodes = await self.nodes()
        home = await self.node_for(meeting, nodes)
        if not home or self.capacity <= 0:
            return home
        others = sorted(
            (n for n in nodes.values() if n.address != home and not n.draining),
            key=lambda n: (n.load, n.address),
        )
        usable = [home, *(n.address for n in others)]
        placed = await self._place(
            keys=[self._peers_key(meeting)], args=[participant, self.capacity, ROOM_TTL_S, *usable]
        )
        return placed.decode() if isinstance(placed, bytes) else str(placed)

    async def known_node(self, meeting: str, participant: str) -> str:
        """Where the participant is now, placing nothing: its node, else the meeting's ("" when
        the meeting has none: the default media service)."""
        if self.capacity > 0:
            raw = await self.redis.hget(self._peers_key(meeting), participant)
            if raw:
                return raw.decode() if isinstance(raw, bytes) else str(raw)
        return await self.current(meeting)

    async def meeting_nodes(self, meeting: str) -> set[str]:
        """Every node the meeting's participants sit on (and the meeting's own node)."""
        found = {await self.current(meeting)}
        if self.capacity > 0:
            for raw in await self.redis.hvals(self._peers_key(meeting)):
                found.add(raw.decode() if isinstance(raw, bytes) else str(raw))
        found.discard("")
        return found

    async def forget(self, meeting: str, participant: str) -> None:
        """The participant left the meeting: it no longer counts on its node."""
        if self.capacity > 0:
            await self.redis.hdel(self._peers_key(meeting), participant)

    def stub(self, address: str) -> media_grpc.MediaServiceStub:
        if not address:
            return self.default
        if address not in self._channels:
            self._channels[address] = channel(address, self.identity)
        return media_grpc.MediaServiceStub(self._channels[address])

    async def media_for(self, meeting: str, participant: str = "") -> media_grpc.MediaServiceStub:
        if participant:
            return self.stub(await self.participant_node(meeting, participant))
        return self.stub(await self.node_for(meeting))

    def close(self) -> None:
        for ch in self._channels.values():
            ch.close()
        self._channels.clear()
