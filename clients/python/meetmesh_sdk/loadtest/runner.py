"""The load test itself: accounts, rooms, bots, sampling, and the report's numbers."""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import statistics
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from aiortc.mediastreams import MediaStreamError
from grpclib.client import Channel

from meetmesh.meeting.v1 import meeting_grpc, meeting_pb2
from meetmesh.signaling.v1 import signaling_pb2 as pb
from meetmesh.user.v1 import user_grpc, user_pb2

from ..room import Room, host_port
from ..sources import ColorVideoTrack, ToneAudioTrack

# RTP clock rates, to turn aiortc's jitter (timestamp units) into milliseconds.
_CLOCK = {"video": 90_000, "audio": 48_000}


def unwrap_jitter_timestamps() -> None:
    """Make aiortc's receive statistics take RTP timestamps modulo 2^32 (idempotent).

    aiortc (1.16) computes RFC 3550's interarrival jitter from the plain difference of two
    packets' timestamps, so when a stream's timestamp wraps past 2^32 (its start is random, so
    any stream may, about once in 25 hours of 48 kHz audio) the difference is read as ~2^32
    and the jitter jumps to ~5.6 million ms, fading over the next few hundred packets. A load
    test of 2026-12-04 reported such a max (3,337,100 ms, 8 packets after a wrap). Here the
    previous timestamp is moved by 2^32 first whenever the new one is more than 2^31 away, so
    the formula sees the true, small step."""
    from aiortc.rtcrtpreceiver import StreamStatistics

    if getattr(StreamStatistics.add, "_meetmesh_unwrapped", False):
        return
    add = StreamStatistics.add

    def unwrapped(self: Any, packet: Any) -> None:
        last = self._last_timestamp
        if last is not None:
            step = packet.timestamp - last
            if step > 1 << 31:
                self._last_timestamp = last + (1 << 32)
            elif step < -(1 << 31):
                self._last_timestamp = last - (1 << 32)
        add(self, packet)

    unwrapped._meetmesh_unwrapped = True  # type: ignore[attr-defined]
    StreamStatistics.add = unwrapped  # type: ignore[method-assign]


def parse_duration(text: str) -> float:
    """``30s``, ``2m``, ``1m30s`` or plain seconds."""
    match = re.fullmatch(r"\s*(?:(\d+(?:\.\d+)?)m)?\s*(?:(\d+(?:\.\d+)?)s?)?\s*", text)
    if not text.strip() or match is None or not any(match.groups()):
        raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 2m, 1m30s)")
    minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return minutes * 60 + seconds


@dataclass
class LoadTestOptions:
    rooms: int = 1
    publishers: int = 1
    subscribers: int = 1
    duration_s: float = 30.0
    user_server: str = "127.0.0.1:8080"
    meeting_server: str = "127.0.0.1:8082"
    # Processes whose CPU is reported; empty: every local `meetmesh up`/`serve` process.
    platform_pids: list[int] = field(default_factory=list)
    video_size: tuple[int, int] = (640, 480)
    fps: int = 30

    def __post_init__(self) -> None:
        if self.rooms < 1 or self.publishers < 1 or self.subscribers < 0:
            raise ValueError("--rooms and --publishers must be at least 1, --subscribers at least 0")
        if self.duration_s <= 0:
            raise ValueError("--duration must be positive")


@dataclass
class BotResult:
    room: int
    role: str  # "publisher" | "subscriber"
    name: str
    join_s: float | None = None
    first_frame_s: float | None = None
    frames: int = 0  # video frames decoded (subscribers)
    packets_received: int = 0
    packets_lost: int = 0
    jitter_ms: list[float] = field(default_factory=list)  # one sample per second and track
    error: str = ""


@dataclass
class Report:
    options: dict[str, Any]
    started_at: float
    seconds: float
    bots: list[BotResult]
    # one row per second: t, joined, frames/s, kbit/s received, platform CPU %
    timeline: list[dict[str, float]]
    platform_processes: list[str]

    # -- summaries -------------------------------------------------------------------------------
    def _subscribers(self) -> list[BotResult]:
        return [b for b in self.bots if b.role == "subscriber"]

    def summary(self) -> dict[str, Any]:
        joins = [b.join_s for b in self.bots if b.join_s is not None]
        firsts = [b.first_frame_s for b in self._subscribers() if b.first_frame_s is not None]
        received = sum(b.packets_received for b in self._subscribers())
        lost = sum(max(b.packets_lost, 0) for b in self._subscribers())
        jitter = [j for b in self._subscribers() for j in b.jitter_ms]
        steady = self.timeline[len(self.timeline) // 3 :] or self.timeline  # after the ramp-up
        kbps = [row["kbps"] for row in steady]
        cpu = [row["cpu_percent"] for row in self.timeline if row["cpu_percent"] >= 0]
        subs = max(len(self._subscribers()), 1)
        return {
            "bots": len(self.bots),
            "joined": len(joins),
            "errors": sum(1 for b in self.bots if b.error),
            "join_ms": _stats([j * 1000 for j in joins]),
            "first_frame_ms": _stats([f * 1000 for f in firsts]),
            "subscribers_with_video": len(firsts),
            "frames_received": sum(b.frames for b in self._subscribers()),
            "fps_per_subscriber": (
                sum(b.frames for b in self._subscribers()) / subs / max(self.seconds, 1e-9)
            ),
            "packets_received": received,
            "packets_lost": lost,
            "loss_percent": 100.0 * lost / max(received + lost, 1),
            "jitter_ms": _stats(jitter),
            "kbps_per_subscriber": statistics.fmean(kbps) / subs if kbps else 0.0,
            "platform_cpu_percent": _stats(cpu),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "options": self.options,
            "started_at": self.started_at,
            "seconds": self.seconds,
            "summary": self.summary(),
            "platform_processes": self.platform_processes,
            "timeline": self.timeline,
            "bots": [asdict(b) for b in self.bots],
        }

    def table(self) -> str:
        s = self.summary()

        def row(label: str, st: dict[str, float], unit: str) -> str:
            if not st["n"]:
                return f"  {label:<26} -"
            return (
                f"  {label:<26} p50 {st['p50']:>8.1f} {unit}  p95 {st['p95']:>8.1f} {unit}  "
                f"max {st['max']:>8.1f} {unit}  (n={st['n']:.0f})"
            )

        o = self.options
        lines = [
            f"meetmesh load test: {o['rooms']} room(s) x ({o['publishers']} publishers + "
            f"{o['subscribers']} subscribers), {self.seconds:.0f} s",
            f"  {'bots joined':<26} {s['joined']}/{s['bots']}  ({s['errors']} errors)",
            *(
                f"  {'error':<26} {message}" + (f"  (x{count})" if count > 1 else "")
                for message, count in Counter(b.error for b in self.bots if b.error).most_common(5)
            ),
            row("join latency", s["join_ms"], "ms"),
            row("time to first frame", s["first_frame_ms"], "ms"),
            f"  {'video frames received':<26} {s['frames_received']}  "
            f"({s['fps_per_subscriber']:.1f} fps per subscriber, all tracks)",
            f"  {'packet loss':<26} {s['loss_percent']:.2f}%  "
            f"({s['packets_lost']} of {s['packets_received'] + s['packets_lost']})",
            row("jitter", s["jitter_ms"], "ms"),
            f"  {'bitrate per subscriber':<26} {s['kbps_per_subscriber']:.0f} kbit/s (steady state)",
            row("platform CPU (% of a core)", s["platform_cpu_percent"], "%"),
            f"  {'platform processes':<26} {', '.join(self.platform_processes) or 'none found'}",
        ]
        return "\n".join(lines)


def _stats(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0, "mean": 0.0, "p50": 0.0, "p95": 0.0, "max": 0.0}
    ordered = sorted(values)
    return {
        "n": len(ordered),
        "mean": statistics.fmean(ordered),
        "p50": statistics.median(ordered),
        "p95": ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))],
        "max": ordered[-1],
    }


class _Cpu:
    """CPU of the platform's processes, sampled once a second (psutil)."""

    def __init__(self, pids: list[int]) -> None:
        import psutil

        if pids:
            procs = [psutil.Process(pid) for pid in pids]
        else:
            procs = []
            for proc in psutil.process_iter(["cmdline"]):
                cmd = " ".join(proc.info.get("cmdline") or [])
                if re.search(r"(meetmesh|services\.cli)\s+(up|serve)\b", cmd):
                    procs.append(proc)
        self.procs = procs
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                proc.cpu_percent(None)  # starts the measurement

    def names(self) -> list[str]:
        import psutil

        names = []
        for proc in self.procs:
            with contextlib.suppress(psutil.Error):
                names.append(f"pid {proc.pid} ({proc.name()})")
        return names

    def sample(self) -> float:
        """Percent of one core used by all of them since the last sample (-1: none known)."""
        import psutil

        if not self.procs:
            return -1.0
        total = 0.0
        for proc in self.procs:
            with contextlib.suppress(psutil.Error):
                total += proc.cpu_percent(None)
        return total


class LoadTest:
    def __init__(self, options: LoadTestOptions, progress: Callable[[str], None] | None = None) -> None:
        self.o = options
        self._progress = progress or (lambda line: None)
        self._run = uuid.uuid4().hex[:6]
        self._password = secrets.token_urlsafe(18)  # the run's throwaway bot accounts
        self.results: list[BotResult] = []
        self._rooms: list[Room] = []
        self._consumers: list[asyncio.Task[None]] = []
        self._transport_bytes: dict[int, int] = {}
        self._bot_of: dict[int, BotResult] = {}  # id(room) -> its bot
        self._hosts: list[tuple[str, str]] = []  # (meeting, host's access token), ended at the end

    # -- accounts and meetings -----------------------------------------------------------------
    async def _sign_in(self, users: user_grpc.UserServiceStub, name: str) -> str:
        email = f"loadtest-{self._run}-{name}@example.test"
        await users.Register(
            user_pb2.RegisterRequest(email=email, password=self._password, display_name=name)
        )
        login = await users.Login(user_pb2.LoginRequest(email=email, password=self._password))
        return login.tokens.access_token

    async def run(self) -> Report:
        o = self.o
        unwrap_jitter_timestamps()
        started_at = time.time()
        user_ch = Channel(*host_port(o.user_server))
        meeting_ch = Channel(*host_port(o.meeting_server))
        meetings = meeting_grpc.MeetingServiceStub(meeting_ch)
        try:
            users = user_grpc.UserServiceStub(user_ch)
            plan = [
                BotResult(room, role, f"r{room}-{role[0]}{i}")
                for room in range(o.rooms)
                for role, count in (("publisher", o.publishers), ("subscriber", o.subscribers))
                for i in range(count)
            ]
            self.results = plan
            gate = asyncio.Semaphore(4)  # registration hashes passwords: not all at once

            async def sign_in(bot: BotResult) -> str:
                async with gate:
                    return await self._sign_in(users, bot.name)

            self._progress(f"registering {len(plan)} bot accounts ...")
            tokens = await asyncio.gather(*(sign_in(b) for b in plan))
            names: list[str] = []
            for room in range(o.rooms):
                host = tokens[plan.index(next(b for b in plan if b.room == room))]
                reply = await meetings.CreateMeeting(
                    meeting_pb2.CreateMeetingRequest(
                        meeting=meeting_pb2.Meeting(
                            title=f"load test {self._run} room {room}",
                            capacity=o.publishers + o.subscribers + 1,
                        )
                    ),
                    metadata={"authorization": f"Bearer {host}"},
                )
                names.append(reply.meeting.name)
                self._hosts.append((reply.meeting.name, host))
            cpu = _Cpu(o.platform_pids)
            timeline: list[dict[str, float]] = []
            t0 = time.perf_counter()
            # Publishers first, then subscribers; each bot joins on its own.
            joining = [
                asyncio.ensure_future(self._bot(bot, tokens[i], names[bot.room], meetings, t0))
                for i, bot in enumerate(plan)
            ]
            end = t0 + o.duration_s
            last_frames, last_t = 0, 0.0
            next_tick = t0 + 1.0
            while time.perf_counter() < end:
                await asyncio.sleep(max(0.0, next_tick - time.perf_counter()))
                next_tick += 1.0
                now = time.perf_counter() - t0
                row = await self._sample(now, now - last_t, cpu, last_frames)
                last_frames, last_t = int(row["frames_total"]), now
                timeline.append(row)
                self._progress(
                    f"[{row['t']:5.1f}s/{o.duration_s:.0f}s] joined {row['joined']:.0f}/{len(plan)}  "
                    f"video {row['fps']:.0f} frames/s  {row['kbps']:.0f} kbit/s in  "
                    f"platform CPU {row['cpu_percent']:.0f}%"
                    + (f"  errors {row['errors']:.0f}" if row["errors"] else "")
                )
            seconds = time.perf_counter() - t0
            self._take_room_failures()  # also those of the last second
            for task in joining:
                task.cancel()
            for task in joining:
                with contextlib.suppress(BaseException):
                    await task
            return Report(
                options={
                    "rooms": o.rooms,
                    "publishers": o.publishers,
                    "subscribers": o.subscribers,
                    "duration_s": o.duration_s,
                    "meeting_server": o.meeting_server,
                },
                started_at=started_at,
                seconds=seconds,
                bots=plan,
                timeline=timeline,
                platform_processes=cpu.names(),
            )
        finally:
            await self._leave_all()
            for name, host in self._hosts:  # the rooms end with the run
                with contextlib.suppress(Exception):
                    await meetings.EndMeeting(
                        meeting_pb2.EndMeetingRequest(name=name),
                        metadata={"authorization": f"Bearer {host}"},
                        timeout=10,
                    )
            user_ch.close()
            meeting_ch.close()

    async def _bot(
        self,
        bot: BotResult,
        token: str,
        meeting: str,
        meetings: meeting_grpc.MeetingServiceStub,
        t0: float,
    ) -> None:
        subscriber = bot.role == "subscriber"
        started = time.perf_counter()
        try:
            reply = await meetings.JoinMeeting(
                meeting_pb2.JoinMeetingRequest(name=meeting, display_name=bot.name),
                metadata={"authorization": f"Bearer {token}"},
                timeout=60,
            )
            room = await Room.connect(reply.signaling_address, reply.join_token, auto_subscribe=subscriber)
            self._rooms.append(room)
            self._bot_of[id(room)] = bot
            bot.join_s = time.perf_counter() - started
            if not subscriber:
                width, height = self.o.video_size
                await room.publish(ColorVideoTrack((40, 120, 200), width, height, self.o.fps), name=bot.name)
                await room.publish(ToneAudioTrack(), name=bot.name)
                return
            seen: set[str] = set()
            while True:  # consume every video track of the room as it arrives
                for track_id, remote in list(room.remote.items()):
                    if track_id not in seen and remote.info.kind == pb.TRACK_KIND_VIDEO:
                        seen.add(track_id)
                        self._consumers.append(asyncio.ensure_future(self._consume(bot, remote, started)))
                    elif track_id not in seen:
                        seen.add(track_id)
                        self._consumers.append(asyncio.ensure_future(_discard(remote)))
                await room.wait_until(lambda: any(t not in seen for t in room.remote), 10**9)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            bot.error = f"{type(exc).__name__}: {exc}"[:300]

    async def _consume(self, bot: BotResult, remote: Any, started: float) -> None:
        try:
            while True:
                await remote.track.recv()
                if bot.first_frame_s is None:
                    bot.first_frame_s = time.perf_counter() - started
                bot.frames += 1
        except MediaStreamError:
            pass  # the track ended (unpublished, or the run is over)
        except Exception as exc:
            bot.error = bot.error or f"receiving video: {type(exc).__name__}: {exc}"[:300]

    async def _sample(self, t: float, dt: float, cpu: _Cpu, last_frames: int) -> dict[str, float]:
        """One row of the timeline: rates over the ``dt`` seconds since the last row."""
        dt = max(dt, 1e-3)
        self._take_room_failures()
        received_bytes = 0
        subs = [b for b in self.results if b.role == "subscriber"]
        for room in list(self._rooms):
            if room.pc is None:
                continue
            stats = await room.pc.getStats()
            owner = self._bot_of.get(id(room))
            bot = owner if owner is not None and owner.role == "subscriber" else None
            lost = got = 0
            for stat in stats.values():
                if stat.type == "inbound-rtp":
                    got += stat.packetsReceived
                    lost += stat.packetsLost
                    if bot is not None:
                        bot.jitter_ms.append(1000.0 * stat.jitter / _CLOCK.get(stat.kind, 90_000))
                elif stat.type == "transport":
                    before = self._transport_bytes.get(id(room), 0)
                    self._transport_bytes[id(room)] = stat.bytesReceived
                    received_bytes += stat.bytesReceived - before
            if bot is not None:
                bot.packets_received, bot.packets_lost = got, lost
        frames_total = sum(b.frames for b in subs)
        return {
            "t": t,
            "joined": float(sum(1 for b in self.results if b.join_s is not None)),
            "fps": (frames_total - last_frames) / dt,
            "frames_total": float(frames_total),
            "kbps": received_bytes * 8 / 1000.0 / dt,
            "cpu_percent": cpu.sample(),
            "errors": float(sum(1 for b in self.results if b.error)),
        }

    def _take_room_failures(self) -> None:
        """A room's first failed background task (e.g. a subscription never answered) as its bot's
        error; every room, also one without a peer connection (one that failed may be resuming)."""
        for room in self._rooms:
            owner = self._bot_of.get(id(room))
            if owner is not None and room.failures and not owner.error:
                owner.error = room.failures[0]

    async def _leave_all(self) -> None:
        for task in self._consumers:
            task.cancel()
        for task in self._consumers:
            with contextlib.suppress(BaseException):
                await task
        await asyncio.gather(*(r.leave() for r in self._rooms), return_exceptions=True)


async def _discard(remote: Any) -> None:
    with contextlib.suppress(Exception):
        while True:
            await remote.track.recv()


def print_progress(line: str) -> None:
    """One line a second: rewritten in place on a terminal, appended otherwise."""
    if sys.stdout.isatty():
        print(f"\r\033[K{line}", end="", flush=True)
    else:
        print(line, flush=True)
