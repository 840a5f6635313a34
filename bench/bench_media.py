"""Real-time media benchmarks, in one run:

1. forwarding: one 640x480@30 VP8 publisher and N subscribers through the media service (its own
   process, driven over its gRPC API); CPU of the SFU process per forwarded video down-track, and
   the same load through Janus (Debian's ``janus`` videoroom on loopback) as the baseline;
2. join-to-first-frame: Room.connect through signaling until the first decoded frame of a
   publisher already in the room, against a direct aiortc peer pair (no SFU) as the baseline;
3. signaling fan-out: in a 50-participant room, time from one participant sending a data message
   to each other participant receiving it (p50/p99), against a bare Redis pub/sub round trip.

Load generators never decode: the publisher replays pre-encoded VP8 packets, the subscribers
count frames through the same receive hook the SFU uses. Targets are printed, never asserted.

``MEETMESH_BENCH_MEDIA_PARTS`` (comma-separated, default all) runs only some parts: ``forwarding``
(with its Janus baseline), ``join``, ``fanout``, ``transcode``; e.g.
``MEETMESH_BENCH_MEDIA_PARTS=forwarding python -m bench media``.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import os
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
import redis
import uvloop
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError
from grpclib.client import Channel
from grpclib.exceptions import StreamTerminatedError

from bench.support import redis_url, spawn, stop, wait_for_port
from meetmesh.media.internal.v1 import media_grpc, media_pb2
from meetmesh.signaling.v1 import signaling_grpc
from meetmesh.signaling.v1 import signaling_pb2 as pb
from meetmesh_sdk.ice import use_host_addresses
from meetmesh_sdk.room import Room
from meetmesh_sdk.sources import ColorVideoTrack
from services.media.forwarding import PLI_MIN_INTERVAL_S, PacketSource, attach_source
from services.media.transcode import Options, transcode
from services.stack.servers import free_port

PARTS = ("forwarding", "join", "fanout", "transcode")
SELECTED = tuple(p.strip() for p in os.environ.get("MEETMESH_BENCH_MEDIA_PARTS", ",".join(PARTS)).split(","))
SUBSCRIBERS = tuple(int(n) for n in os.environ.get("MEETMESH_BENCH_SUBSCRIBERS", "0,8,24").split(","))
WARMUP_S = 3.0
WINDOW_S = 5.0
FANOUT_ROOM = 50
FANOUT_MESSAGES = 60
JOIN_TRIALS = 5

Clip = list[tuple[bytes, bool]]


# -- load generators ---------------------------------------------------------------------------
def encode_clip(seconds: float = 4.0) -> Clip:
    """640x480@30 VP8 at ~1 Mbit/s with a keyframe every second, encoded once."""
    encoder = av.CodecContext.create("libvpx", "w")
    encoder.width, encoder.height, encoder.pix_fmt = 640, 480, "yuv420p"
    encoder.time_base = fractions.Fraction(1, 30)
    encoder.bit_rate = 1_000_000
    encoder.gop_size = 30
    encoder.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
    packets: Clip = []
    blocks = np.random.default_rng(7).integers(0, 255, (30, 80, 3), dtype=np.uint8)
    texture = np.kron(blocks, np.ones((16, 16, 1), np.uint8))  # 480 x 1280, compressible detail
    for i in range(int(seconds * 30)):
        image = np.ascontiguousarray(texture[:, (i * 4) % 640 : (i * 4) % 640 + 640])
        frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")
        frame.pts = i
        packets += [(bytes(p), bool(p.is_keyframe)) for p in encoder.encode(frame)]
    return packets


class ClipTrack(MediaStreamTrack):
    """Replays pre-encoded VP8 packets at 30 fps (the sender packetises without encoding)."""

    kind = "video"

    def __init__(self, clip: Clip) -> None:
        super().__init__()
        self._clip = clip
        self._index = 0
        self._start: float | None = None

    async def recv(self) -> av.Packet:  # type: ignore[override]
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        delay = self._start + self._index / 30 - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        data, _ = self._clip[self._index % len(self._clip)]
        packet = av.Packet(data)
        packet.pts = self._index * 3000
        packet.time_base = fractions.Fraction(1, 90000)
        self._index += 1
        return packet


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure_cpu(pid: int, window_s: float) -> float:
    """Share of one core the process used over the window."""
    before, t0 = cpu_seconds(pid), time.monotonic()
    await asyncio.sleep(window_s)
    return (cpu_seconds(pid) - before) / (time.monotonic() - t0)


@dataclass
class Subscriber:
    pc: RTCPeerConnection
    source: PacketSource | None = None


def frames(subs: list[Subscriber]) -> int:
    return sum(s.source.frames_in for s in subs if s.source)


# -- 1a. our SFU ---------------------------------------------------------------------------------
async def negotiate_with_media(
    stub: media_grpc.MediaServiceStub, pc: RTCPeerConnection, participant: str, **kw: Any
) -> None:
    """Offer (mids are known once the offer is set) and apply media's answer."""
    if pc.localDescription is None:
        await pc.setLocalDescription(await pc.createOffer())
    reply = await stub.Negotiate(
        media_pb2.NegotiateRequest(
            meeting="bench", participant=participant, sdp=pc.localDescription.sdp, **kw
        )
    )
    await pc.setRemoteDescription(RTCSessionDescription(sdp=reply.sdp, type="answer"))


async def forwarding_ours(clip: Clip) -> dict[int, tuple[float, float]]:
    """N -> (SFU CPU share of a core, frames/s per subscriber)."""
    grpc_port, http_port = free_port(), free_port()
    keys = tempfile.mkdtemp(prefix="mm-bench-keys-")
    from services.kit import PlatformSettings, Runtime, channel

    # MediaService is internal: the bench calls it as signaling does, with signaling's service token
    # (the keys are created here, before the media process loads them).
    as_signaling = Runtime(PlatformSettings(keys_dir=Path(keys))).identity("signaling")
    as_signaling.authorization()
    proc = spawn(
        ["-m", "services.cli", "serve", "media"],
        env={
            "MEETMESH_MEDIA__GRPC_PORT": str(grpc_port),
            "MEETMESH_MEDIA__HTTP_PORT": str(http_port),
            "MEETMESH_KEYS_DIR": keys,
            "MEETMESH_LOG_LEVEL": "WARNING",
        },
    )
    results: dict[int, tuple[float, float]] = {}
    pcs: list[RTCPeerConnection] = []
    try:
        await wait_for_port(grpc_port)
        async with channel(f"127.0.0.1:{grpc_port}", as_signaling) as media:
            stub = media_grpc.MediaServiceStub(media)
            publisher = RTCPeerConnection()
            pcs.append(publisher)
            transceiver = publisher.addTransceiver(ClipTrack(clip), direction="sendonly")
            await publisher.setLocalDescription(await publisher.createOffer())
            await negotiate_with_media(
                stub,
                publisher,
                "pub",
                publish=[media_pb2.Publication(mid=transceiver.mid, track_id="TR_bench")],
            )
            subs: list[Subscriber] = []
            for n in SUBSCRIBERS:
                while len(subs) < n:
                    pc = RTCPeerConnection()
                    pcs.append(pc)
                    t = pc.addTransceiver("video", direction="recvonly")
                    sub = Subscriber(pc, attach_source(t.receiver, "video"))
                    await pc.setLocalDescription(await pc.createOffer())
                    await negotiate_with_media(
                        stub,
                        pc,
                        f"sub{len(subs)}",
                        subscribe=[media_pb2.Subscription(mid=t.mid, track_id="TR_bench")],
                    )
                    subs.append(sub)
                await asyncio.sleep(WARMUP_S)
                before = frames(subs)
                cpu = await measure_cpu(proc.pid, WINDOW_S)
                fps = (frames(subs) - before) / WINDOW_S / max(n, 1)
                results[n] = (cpu, fps)
    finally:
        for pc in pcs:
            await pc.close()
        stop(proc)
        shutil.rmtree(keys, ignore_errors=True)
    return results


# -- 1b. Janus -----------------------------------------------------------------------------------
JANUS_DISABLED_PLUGINS = [
    "libjanus_audiobridge.so", "libjanus_duktape.so", "libjanus_echotest.so", "libjanus_lua.so",
    "libjanus_nosip.so", "libjanus_recordplay.so", "libjanus_sip.so", "libjanus_streaming.so",
    "libjanus_textroom.so", "libjanus_videocall.so", "libjanus_voicemail.so",
]  # fmt: skip
JANUS_DISABLED_TRANSPORTS = [
    "libjanus_websockets.so", "libjanus_mqtt.so", "libjanus_nanomsg.so", "libjanus_pfunix.so",
    "libjanus_rabbitmq.so",
]  # fmt: skip


def janus_config(folder: Path, http_port: int) -> Path:
    """Janus on loopback: videoroom plugin and HTTP API only (FACTS.md)."""
    for name in ("janus.jcfg", "janus.plugin.videoroom.jcfg", "janus.transport.http.jcfg"):
        shutil.copy(f"/etc/janus/{name}", folder / name)
    main = (folder / "janus.jcfg").read_text()
    main = main.replace('configs_folder = "/etc/janus"', f'configs_folder = "{folder}"')
    main = main.replace('#ice_enforce_list = "eth0"', 'ice_enforce_list = "lo"')
    main = main.replace(
        '#disable = "libjanus_voicemail.so,libjanus_recordplay.so"',
        f'disable = "{",".join(JANUS_DISABLED_PLUGINS)}"',
    )
    main = main.replace(
        '#disable = "libjanus_rabbitmq.so"', f'disable = "{",".join(JANUS_DISABLED_TRANSPORTS)}"'
    )
    main = main.replace('#disable = "libjanus_jsonlog.so"', 'disable = "libjanus_jsonlog.so"')
    (folder / "janus.jcfg").write_text(main)
    http = (folder / "janus.transport.http.jcfg").read_text()
    http = http.replace("port = 8088", f"port = {http_port}").replace("https = true", "https = false")
    (folder / "janus.transport.http.jcfg").write_text(http.replace('#interface = "eth0"', 'ip = "127.0.0.1"'))
    return folder / "janus.jcfg"


class JanusSession:
    """A Janus HTTP API session with one videoroom handle."""

    def __init__(self, http: Any, base: str) -> None:
        self.http, self.base = http, base
        self.session = self.handle = 0

    async def _post(self, url: str, body: dict[str, Any]) -> dict[str, Any]:
        body = {"transaction": uuid.uuid4().hex, **body}
        reply: dict[str, Any] = (await self.http.post(url, json=body, timeout=10)).json()
        return reply

    async def open(self) -> None:
        self.session = (await self._post(self.base, {"janus": "create"}))["data"]["id"]
        url = f"{self.base}/{self.session}"
        self.handle = (await self._post(url, {"janus": "attach", "plugin": "janus.plugin.videoroom"}))[
            "data"
        ]["id"]

    async def message(self, body: dict[str, Any], jsep: dict[str, str] | None = None) -> dict[str, Any]:
        """Send to the plugin; wait for its event (long poll) when the reply is asynchronous."""
        request: dict[str, Any] = {"janus": "message", "body": body}
        if jsep:
            request["jsep"] = jsep
        reply = await self._post(f"{self.base}/{self.session}/{self.handle}", request)
        if reply.get("janus") == "success":
            return reply
        while True:
            event: dict[str, Any] = (
                await self.http.get(f"{self.base}/{self.session}?maxev=1", timeout=30)
            ).json()
            if event.get("janus") == "event" and event.get("sender") == self.handle:
                return event

    async def keepalive(self) -> None:
        await self._post(f"{self.base}/{self.session}", {"janus": "keepalive"})


async def forwarding_janus(clip: Clip) -> dict[int, tuple[float, float]]:
    import httpx

    http_port = free_port()
    folder = Path(tempfile.mkdtemp(prefix="mm-bench-janus-"))
    config = janus_config(folder, http_port)
    proc = await asyncio.create_subprocess_exec(
        "janus", "-C", str(config), "-F", str(folder), "-L", str(folder / "janus.log"),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    results: dict[int, tuple[float, float]] = {}
    pcs: list[RTCPeerConnection] = []
    sessions: list[JanusSession] = []
    # Janus (libnice) does not gather on loopback even when told to: meet it on the host's own
    # address instead (still one machine, same kernel path costs).
    use_host_addresses(None)
    try:
        await wait_for_port(http_port)
        base = f"http://127.0.0.1:{http_port}/janus"
        async with httpx.AsyncClient() as http:
            owner = JanusSession(http, base)
            await owner.open()
            created = await owner.message({"request": "create", "videocodec": "vp8", "publishers": 4})
            room = created["plugindata"]["data"]["room"]
            publisher = RTCPeerConnection()
            pcs.append(publisher)
            publisher.addTransceiver(ClipTrack(clip), direction="sendonly")
            await publisher.setLocalDescription(await publisher.createOffer())
            pub = JanusSession(http, base)
            await pub.open()
            sessions += [owner, pub]
            await pub.message({"request": "join", "ptype": "publisher", "room": room})
            answer = await pub.message(
                {"request": "configure", "audio": False, "video": True},
                {"type": "offer", "sdp": publisher.localDescription.sdp},
            )
            await publisher.setRemoteDescription(RTCSessionDescription(**answer["jsep"]))
            feed = 0
            async with asyncio.timeout(20):
                while not feed:
                    listed = await owner.message({"request": "listparticipants", "room": room})
                    feed = next(
                        (p["id"] for p in listed["plugindata"]["data"]["participants"] if p["publisher"]), 0
                    )
                    await asyncio.sleep(0.2)
            subs: list[Subscriber] = []
            for n in SUBSCRIBERS:
                while len(subs) < n:
                    session = JanusSession(http, base)
                    await session.open()
                    sessions.append(session)
                    offer = await session.message(
                        {"request": "join", "ptype": "subscriber", "room": room, "streams": [{"feed": feed}]}
                    )
                    if "jsep" not in offer:
                        raise RuntimeError(f"janus did not offer: {offer}")
                    pc = RTCPeerConnection()
                    pcs.append(pc)
                    await pc.setRemoteDescription(RTCSessionDescription(**offer["jsep"]))
                    sub = Subscriber(pc)
                    for t in pc.getTransceivers():
                        if t.kind == "video":
                            sub.source = attach_source(t.receiver, "video")
                    await pc.setLocalDescription(await pc.createAnswer())
                    await session.message(
                        {"request": "start"}, {"type": "answer", "sdp": pc.localDescription.sdp}
                    )
                    subs.append(sub)
                for session in sessions:
                    await session.keepalive()
                await asyncio.sleep(WARMUP_S)
                before = frames(subs)
                cpu = await measure_cpu(proc.pid, WINDOW_S)
                results[n] = (cpu, (frames(subs) - before) / WINDOW_S / max(n, 1))
    finally:
        for pc in pcs:
            await pc.close()
        proc.terminate()
        await proc.wait()
        shutil.rmtree(folder, ignore_errors=True)
        use_host_addresses(["127.0.0.1"])
    return results


# -- 2 and 3: through signaling ---------------------------------------------------------------------
async def with_signaling(body: Callable[[str, Callable[[str, list[str]], str]], Awaitable[Any]]) -> Any:
    """Media and signaling as their own processes (``meetmesh serve``) on the real Redis; join
    tokens minted here with the same platform key."""
    from services.kit import PlatformSettings, Runtime

    keys = tempfile.mkdtemp(prefix="mm-bench-keys-")
    ports = {name: free_port() for name in ("media_grpc", "media_http", "sig_grpc", "sig_http")}
    env = {
        "MEETMESH_REDIS_URL": redis_url(),
        "MEETMESH_REDIS_PREFIX": f"mmbench:{uuid.uuid4().hex[:6]}",
        "MEETMESH_KEYS_DIR": keys,
        "MEETMESH_LOG_LEVEL": "WARNING",
        "MEETMESH_MEDIA__GRPC_PORT": str(ports["media_grpc"]),
        "MEETMESH_MEDIA__HTTP_PORT": str(ports["media_http"]),
        "MEETMESH_SIGNALING__GRPC_PORT": str(ports["sig_grpc"]),
        "MEETMESH_SIGNALING__HTTP_PORT": str(ports["sig_http"]),
    }
    runtime = Runtime(PlatformSettings(keys_dir=keys))
    runtime.tokens  # noqa: B018 - create the key before the services load it
    media = spawn(["-m", "services.cli", "serve", "media"], env=env)
    signaling = spawn(["-m", "services.cli", "serve", "signaling"], env=env)
    meeting = uuid.uuid4().hex[:10]

    live = redis.Redis.from_url(env["MEETMESH_REDIS_URL"])

    def token(pid: str, grants: list[str]) -> str:
        # Live as the meeting service would make it (kit/joins.py), then minted.
        generation = uuid.uuid4().hex[:16]
        live.hset(f"{env['MEETMESH_REDIS_PREFIX']}:joins:{meeting}", pid, generation)
        issued, _ = runtime.tokens.issue_join(
            generation=generation,
            user_id=pid,
            meeting_id=meeting,
            participant_id=pid,
            meeting_role="participant",
            grants=grants,
            ttl_s=600,
        )
        return issued

    try:
        await wait_for_port(ports["media_grpc"])
        await wait_for_port(ports["sig_grpc"])
        return await body(f"127.0.0.1:{ports['sig_grpc']}", token)
    finally:
        stop(signaling)
        stop(media)
        live.close()
        await runtime.close()
        shutil.rmtree(keys, ignore_errors=True)


async def join_to_first_frame() -> tuple[list[float], list[float]]:
    """Seconds from Room.connect to the first decoded frame; and for a direct aiortc pair."""

    async def through_sfu(address: str, token: Callable[[str, list[str]], str]) -> list[float]:
        publisher = await Room.connect(address, token("pub", ["publish"]), auto_subscribe=False)
        await publisher.publish(ColorVideoTrack((200, 0, 0), width=640, height=480))
        times = []
        try:
            for i in range(JOIN_TRIALS):
                # A join as it comes in a meeting: not within the keyframe-request limit of the
                # previous one (back to back, a join would wait up to PLI_MIN_INTERVAL_S more for
                # the publisher's keyframe: the SFU asks a publisher at most that often).
                await asyncio.sleep(PLI_MIN_INTERVAL_S)
                start = time.perf_counter()
                room = await Room.connect(address, token(f"viewer{i}", ["subscribe"]))
                remote = await room.wait_for_track(lambda r: True)
                await remote.track.recv()
                times.append(time.perf_counter() - start)
                await room.leave()
        finally:
            await publisher.leave()
        return times

    direct = []
    for _ in range(JOIN_TRIALS):
        a, b = RTCPeerConnection(), RTCPeerConnection()
        start = time.perf_counter()
        a.addTrack(ColorVideoTrack((200, 0, 0), width=640, height=480))
        got: asyncio.Future[float] = asyncio.get_running_loop().create_future()

        async def first(
            track: MediaStreamTrack, done: asyncio.Future[float] = got, t0: float = start
        ) -> None:
            await track.recv()
            done.set_result(time.perf_counter() - t0)

        readers: list[asyncio.Future[None]] = []
        b.on("track", lambda t, readers=readers: readers.append(asyncio.ensure_future(first(t))))
        await a.setLocalDescription(await a.createOffer())
        await b.setRemoteDescription(a.localDescription)
        await b.setLocalDescription(await b.createAnswer())
        await a.setRemoteDescription(b.localDescription)
        direct.append(await asyncio.wait_for(got, 20))
        await a.close()
        await b.close()
    return await with_signaling(through_sfu), direct


async def fanout() -> tuple[list[float], list[float]]:
    """Per-recipient delivery latency of data messages in a 50-participant room; Redis baseline."""

    async def run(address: str, token: Callable[[str, list[str]], str]) -> list[float]:
        host, port = address.split(":")
        channel = Channel(host, int(port))
        stub = signaling_grpc.SignalingServiceStub(channel)
        streams = []
        latencies: list[float] = []
        received = 0
        done = asyncio.Event()

        async def reader(stream: Any) -> None:
            nonlocal received
            with contextlib.suppress(StreamTerminatedError):
                async for response in stream:
                    if response.WhichOneof("message") == "data":
                        latencies.append(time.perf_counter() - float(response.data.payload.decode()))
                        received += 1
                        if received == FANOUT_MESSAGES * (FANOUT_ROOM - 1):
                            done.set()

        readers = []
        try:
            for i in range(FANOUT_ROOM):
                stream = stub.Connect.open()
                await stream.__aenter__()
                await stream.send_message(pb.SignalRequest(join=pb.Join(token=token(f"p{i}", ["chat"]))))
                while (await stream.recv_message()).WhichOneof("message") != "joined":
                    pass
                streams.append(stream)
                readers.append(asyncio.ensure_future(reader(stream)))
            await asyncio.sleep(1.0)  # let the join announcements settle
            sender = streams[0]
            for _ in range(FANOUT_MESSAGES):
                payload = repr(time.perf_counter()).encode()
                await sender.send_message(pb.SignalRequest(data=pb.SendData(payload=payload, topic="bench")))
                await asyncio.sleep(0.25)  # within the per-participant message rate
            await asyncio.wait_for(done.wait(), 30)
        finally:
            for task in readers:
                task.cancel()
            for stream in streams:
                await stream.cancel()
            channel.close()
        return latencies

    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(redis_url())
    pubsub = client.pubsub()
    channel_name = f"mmbench:{uuid.uuid4().hex}"
    await pubsub.subscribe(channel_name)
    await pubsub.get_message(timeout=1)
    baseline = []
    for _ in range(200):
        t0 = time.perf_counter()
        await client.publish(channel_name, b"x")
        while await pubsub.get_message(timeout=1) is None:
            pass
        baseline.append(time.perf_counter() - t0)
    await pubsub.aclose()
    await client.aclose()
    return await with_signaling(run), baseline


# -- report --------------------------------------------------------------------------------------------
def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def per_down_track(results: dict[int, tuple[float, float]]) -> float:
    """Extra CPU (share of a core) per subscriber, from the largest N against N=0."""
    top = max(results)
    return (results[top][0] - results[0][0]) / top


async def _run() -> None:
    unknown = sorted(set(SELECTED) - set(PARTS))
    if unknown:
        raise SystemExit(f"MEETMESH_BENCH_MEDIA_PARTS: unknown part(s) {unknown}; known: {', '.join(PARTS)}")
    use_host_addresses(["127.0.0.1"])
    if "forwarding" in SELECTED:
        await _forwarding()
    if "join" in SELECTED:
        await _join()
    if "fanout" in SELECTED:
        await _fanout()
    if "transcode" in SELECTED:
        await _transcode()


async def _forwarding() -> None:
    clip = encode_clip()
    print(
        f"clip: {len(clip)} VP8 packets, {sum(len(d) for d, _ in clip) * 8 / 4 / 1e6:.2f} Mbit/s, 640x480@30"
    )

    ours = await forwarding_ours(clip)
    janus = await forwarding_janus(clip) if shutil.which("janus") else {}
    print("\nforwarding: SFU process CPU (share of one core) and frames/s per subscriber")
    for n in SUBSCRIBERS:
        line = f"  N={n:<3} meetmesh {ours[n][0] * 100:6.1f}% cpu {ours[n][1]:5.1f} fps"
        if janus:
            line += f"   janus {janus[n][0] * 100:6.1f}% cpu {janus[n][1]:5.1f} fps"
        print(line)
    ours_per = per_down_track(ours)
    print(
        f"  meetmesh: {ours_per * 100:.2f}% of a core per down-track, {1 / max(ours_per, 1e-6):.0f} per core"
    )
    print("            (issue 14's goal: at least 300 per core)")
    if janus:
        janus_per = per_down_track(janus)
        print(f"  janus:    {janus_per * 100:.2f}% of a core per track, {1 / max(janus_per, 1e-6):.0f}/core")
        ratio = ours_per / max(janus_per, 1e-6)
        print(f"  meetmesh/janus CPU per down-track: {ratio:.1f}x (issue 14's goal: at most 1.0x)")
    else:
        print("  janus not installed (apt-get install janus): no baseline")


async def _join() -> None:
    sfu, direct = await join_to_first_frame()
    sfu_ms, direct_ms = statistics.median(sfu) * 1000, statistics.median(direct) * 1000
    print("\njoin-to-first-frame (Room.connect -> first decoded frame of a publisher already in the room)")
    print(
        f"  through signaling+SFU: median {sfu_ms:.0f} ms, max {max(sfu) * 1000:.0f} ms"
        " (issue 14's goal: <= 200 ms)"
    )
    print(f"  direct aiortc pair:    median {direct_ms:.0f} ms, ratio {sfu_ms / direct_ms:.1f}x")


async def _fanout() -> None:
    latencies, baseline = await fanout()
    p50, p99 = pct(latencies, 0.5) * 1000, pct(latencies, 0.99) * 1000
    b50, b99 = pct(baseline, 0.5) * 1000, pct(baseline, 0.99) * 1000
    print(f"\nsignaling fan-out in a {FANOUT_ROOM}-participant room ({len(latencies)} deliveries)")
    print(f"  p50 {p50:.1f} ms, p99 {p99:.1f} ms (target: p99 at most 50 ms)")
    print(f"  Redis pub/sub round trip: p50 {b50:.2f} ms, p99 {b99:.2f} ms; ratio of p99s {p99 / b99:.0f}x")


async def _transcode() -> None:
    ours_x, plain_x = await asyncio.to_thread(transcode_speed)
    print(
        "\ntranscoding a 720p recording (10 s, 1 participant) as a job does it: the composite MP4"
        " 1280x720 veryfast + HLS, then the participant's own MP4 + HLS (two H.264 encodes)"
    )
    print(
        f"  meetmesh: {ours_x:.1f}x real time; plain VP8->H.264 re-encode: {plain_x:.1f}x"
        f" (plain/meetmesh {plain_x / ours_x:.1f})"
    )


def _recording_720p(path: Path, seconds: int) -> None:
    """A recorder-like WebM: one participant's 1280x720 VP8 (a moving bar) and Opus tone."""
    out = av.open(str(path), "w", format="webm")
    video = out.add_stream("libvpx", rate=30, options={"deadline": "realtime", "cpu-used": "8"})
    video.width, video.height, video.pix_fmt = 1280, 720, "yuv420p"
    video.metadata["title"] = "p0"
    audio = out.add_stream("libopus", rate=48000)
    audio.layout = "mono"
    audio.metadata["title"] = "p0"
    for n in range(seconds * 30):
        image = np.full((720, 1280, 3), (40, 90, 160), np.uint8)
        image[:, (n * 16) % 1280 : (n * 16) % 1280 + 64] = 255
        frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")
        frame.pts, frame.time_base = n, fractions.Fraction(1, 30)
        for packet in video.encode(frame):
            out.mux(packet)
        t = (np.arange(1600) + n * 1600) / 48000
        chunk = av.AudioFrame.from_ndarray(
            (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32).reshape(1, -1), format="flt", layout="mono"
        )
        chunk.sample_rate, chunk.pts, chunk.time_base = 48000, n * 1600, fractions.Fraction(1, 48000)
        for packet in audio.encode(chunk):
            out.mux(packet)
    for stream in (video, audio):
        for packet in stream.encode(None):
            out.mux(packet)
    out.close()


def _plain_transcode(source: Path, target: Path) -> None:
    """The baseline: VP8 decoded and re-encoded as H.264 (same preset), nothing composed."""
    with av.open(str(source)) as src, av.open(str(target), "w", format="mp4") as out:
        stream: Any = out.add_stream("libx264", rate=30, options={"preset": "veryfast"})
        stream.width, stream.height, stream.pix_fmt = 1280, 720, "yuv420p"
        for index, frame in enumerate(src.decode(video=0)):
            frame.pts, frame.time_base = index, fractions.Fraction(1, 30)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def transcode_speed(seconds: int = 10) -> tuple[float, float]:
    """(a transcode job: composite and per-participant MP4 + HLS; plain VP8 -> H.264) of a 720p
    recording, as multiples of real time."""
    with tempfile.TemporaryDirectory(prefix="meetmesh-bench-") as folder:
        source = Path(folder) / "rec.webm"
        _recording_720p(source, seconds)
        started = time.perf_counter()
        transcode(source, Path(folder) / "out", Options())
        ours = time.perf_counter() - started
        started = time.perf_counter()
        _plain_transcode(source, Path(folder) / "plain.mp4")
        plain = time.perf_counter() - started
    return seconds / ours, seconds / plain


def main() -> None:
    uvloop.install()
    asyncio.run(_run())
