"""``meetmesh bot``: join a meeting and play a media file (or a synthetic source) into it.

Three ways in: ``--meeting`` alone uses the saved login of ``meetmesh login`` (JoinMeeting through
the profile's edge over gRPC-web, then native gRPC to the signaling address it returns);
``--meeting`` with ``--access-token`` calls the meeting service natively at ``--server``; or
straight to signaling with a join token (``--join-token`` and ``--signaling``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from typing import Any

from aiortc import MediaStreamTrack

from meetmesh.signaling.v1 import signaling_pb2 as pb

from .ice import use_host_addresses
from .meeting import join_meeting
from .room import Room
from .sources import ColorVideoTrack, ToneAudioTrack, file_tracks


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "examples: meetmesh login && meetmesh bot --meeting meetings/6b1f2c --file talk.webm --loop; "
        "meetmesh bot --join-token $TOKEN --signaling 127.0.0.1:8081 --duration 30"
    )
    parser.add_argument("--meeting", help="meetings/{meeting} to join (with the saved login by default)")
    parser.add_argument(
        "--server", default="127.0.0.1:8082", help="the meeting service, host:port (with --access-token)"
    )
    parser.add_argument("--access-token", help="an access token; default: the saved login (meetmesh login)")
    parser.add_argument(
        "--profile", default=None, help="the saved login's profile (default: MEETMESH_PROFILE)"
    )
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


async def _join_with_saved_login(args: argparse.Namespace) -> Room:
    """JoinMeeting through the profile's edge with the saved (auto-refreshed) login, then signaling."""
    import os

    from grpclib.exceptions import GRPCError

    from meetmesh.meeting.v1 import meeting_pb2

    from .cli.config import DEFAULT_PROFILE, Config
    from .cli.errors import CliError, from_grpc
    from .cli.session import Session

    config = Config()
    profile = args.profile or os.environ.get("MEETMESH_PROFILE") or DEFAULT_PROFILE
    session = Session(config, profile, config.server(profile, None))
    name = args.meeting if args.meeting.startswith("meetings/") else f"meetings/{args.meeting}"
    try:
        reply = await session.call(
            session.meetings.JoinMeeting,
            meeting_pb2.JoinMeetingRequest(
                name=name, passcode=args.passcode, display_name=args.name, wait_for_admission=True
            ),
            deadline_s=60,
        )
    except GRPCError as exc:
        error = from_grpc(exc, "joining")
        print(error.line(), file=sys.stderr)
        raise SystemExit(error.exit_code) from exc
    except CliError as exc:
        print(exc.line(), file=sys.stderr)
        raise SystemExit(exc.exit_code) from exc
    finally:
        await session.close()
    if not reply.join_token:
        raise SystemExit("meetmesh: not admitted to the meeting")
    return await Room.connect(reply.signaling_address, reply.join_token, auto_subscribe=False)


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
    elif args.meeting:
        room = await _join_with_saved_login(args)
    else:
        raise SystemExit("give --meeting (after meetmesh login), or --join-token with --signaling")
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
