"""``meetmesh bot``: join a meeting and play a media file (or a synthetic source) into it.

Either through the meeting service (``--meeting`` with ``--access-token``: JoinMeeting, then
signaling) or straight to signaling with a join token (``--join-token`` and ``--signaling``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from typing import Any

from aiortc import MediaStreamTrack

from meetmesh.signaling.v1 import signaling_pb2 as pb

from .ice import use_host_addresses
from .meeting import join_meeting
from .room import Room
from .sources import ColorVideoTrack, ToneAudioTrack, file_tracks


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--meeting", help="meetings/{meeting} to join through the meeting service")
    parser.add_argument("--server", default="127.0.0.1:8082", help="the meeting service, host:port")
    parser.add_argument("--access-token", help="an access token (from the user service's Login)")
    parser.add_argument("--passcode", default="")
    parser.add_argument("--name", default="bot", help="display name")
    parser.add_argument("--join-token", help="join signaling directly with this join token")
    parser.add_argument(
        "--signaling", default="127.0.0.1:8081", help="signaling host:port (with --join-token)"
    )
    parser.add_argument("--file", help="media file to play (audio and/or video); default: synthetic")
    parser.add_argument("--loop", action="store_true", help="play the file in a loop")
    parser.add_argument(
        "--duration", type=float, default=0.0, help="leave after this many seconds (0: never)"
    )
    parser.add_argument(
        "--ice-host", action="append", default=[], help="gather ICE host candidates only on this address"
    )


async def run(args: argparse.Namespace) -> int:
    use_host_addresses(args.ice_host)
    if args.join_token:
        room = await Room.connect(args.signaling, args.join_token, auto_subscribe=False)
    elif args.meeting and args.access_token:
        room = await join_meeting(
            args.server,
            args.access_token,
            args.meeting,
            passcode=args.passcode,
            display_name=args.name,
            auto_subscribe=False,
        )
    else:
        raise SystemExit("give --join-token, or --meeting with --access-token")
    tracks: list[MediaStreamTrack | None]
    if args.file:
        tracks = list(file_tracks(args.file, loop=args.loop))
    else:
        tracks = [ToneAudioTrack(), ColorVideoTrack((40, 120, 200))]
    ended = asyncio.Event()
    for track in tracks:
        if track is not None:
            track.on("ended", ended.set)
            await room.publish(
                track,
                source=pb.TRACK_SOURCE_FILE if args.file else pb.TRACK_SOURCE_UNSPECIFIED,
                name=args.name,
            )
    print(f"bot joined as {room.participant_id}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    waits: list[asyncio.Future[Any]] = [
        asyncio.ensure_future(stop.wait()),
        asyncio.ensure_future(ended.wait()),
    ]
    waits.append(asyncio.ensure_future(room.wait_until(lambda: bool(room.closed_reason), 10**9)))
    if args.duration:
        waits.append(asyncio.ensure_future(asyncio.sleep(args.duration)))
    await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    for task in waits:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
    reason = room.closed_reason
    await room.leave()
    print(f"bot left ({reason or 'done'})", flush=True)
    return 0
