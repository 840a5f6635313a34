"""Data messages (``SendData``): delivered to everyone or to named participants, byte for byte, with
the sender and topic; refused without the ``chat`` grant and over the size limit."""

from __future__ import annotations

import asyncio

from meetmesh.signaling.v1 import signaling_pb2 as pb
from meetmesh_sdk.room import Room
from tests.rtc_helpers import RawSession, Rtc


class Inbox:
    """Every data message a room receives from now on."""

    def __init__(self, room: Room) -> None:
        self.room = room
        self.messages: list[pb.DataMessage] = []
        self._task = asyncio.ensure_future(self._collect())

    async def _collect(self) -> None:
        async for event in self.room.events():
            if event.WhichOneof("message") == "data":
                self.messages.append(event.data)

    def stop(self) -> None:
        self._task.cancel()


async def test_data_reaches_everyone_else_byte_for_byte(rtc: Rtc) -> None:
    sender, first, second = await rtc.bot(), await rtc.bot(), await rtc.bot()
    await sender.wait_until(lambda: {first.participant_id, second.participant_id} <= set(sender.participants))
    inboxes = {room: Inbox(room) for room in (sender, first, second)}
    payload = bytes(range(256)) * 8  # every byte value, NULs included
    await sender.send_data(payload, topic="app.state")
    for room in (first, second):
        await room.wait_until(lambda r=room: len(inboxes[r].messages) == 1)
        message = inboxes[room].messages[0]
        assert message.payload == payload
        assert message.topic == "app.state"
        assert getattr(message, "from") == sender.participant_id
    # A marker sent afterwards to the sender by someone else arrives; the sender's own did not.
    await first.send_data(b"marker", to=[sender.participant_id])
    await sender.wait_until(lambda: len(inboxes[sender].messages) == 1)
    assert inboxes[sender].messages[0].payload == b"marker"
    for inbox in inboxes.values():
        inbox.stop()


async def test_data_to_named_participants_reaches_only_them(rtc: Rtc) -> None:
    sender, target, bystander = await rtc.bot(), await rtc.bot(), await rtc.bot()
    await sender.wait_until(lambda: bystander.participant_id in sender.participants)
    target_inbox, bystander_inbox = Inbox(target), Inbox(bystander)
    await sender.send_data(b"private", topic="dm", to=[target.participant_id])
    # Then a broadcast: once the bystander has it, the private message would have come before it.
    await sender.send_data(b"everyone", topic="all")
    await bystander.wait_until(lambda: len(bystander_inbox.messages) == 1)
    await target.wait_until(lambda: len(target_inbox.messages) == 2)
    assert [m.payload for m in target_inbox.messages] == [b"private", b"everyone"]
    assert [m.payload for m in bystander_inbox.messages] == [b"everyone"]
    target_inbox.stop()
    bystander_inbox.stop()


async def test_data_needs_the_chat_grant_and_respects_the_size_limit(rtc: Rtc) -> None:
    listener = await rtc.bot()
    inbox = Inbox(listener)
    token = await rtc.token("p-silent", grants=["subscribe"])
    async with RawSession(rtc.signaling_address) as s:
        await s.join(token)
        await s.send(request_id=2, data=pb.SendData(payload=b"x", topic="t"))
        refused = await s.next("error")
        assert refused.request_id == 2
        assert refused.error.reason == "PERMISSION_DENIED"
        assert not refused.error.fatal
    allowed = await rtc.bot()
    async with RawSession(rtc.signaling_address) as s:
        await s.join(await rtc.token("p-big", grants=["chat"]))
        await s.send(request_id=3, data=pb.SendData(payload=b"x" * 16385))
        too_big = await s.next("error")  # refused by validation, before the request is read
        assert too_big.error.reason == "INVALID_FIELD"
        assert "data.payload" in too_big.error.message
    # Nothing refused was delivered: the next accepted message is the first one the listener sees.
    await allowed.send_data(b"ok")
    await listener.wait_until(lambda: len(inbox.messages) == 1)
    assert inbox.messages[0].payload == b"ok"
    inbox.stop()
