"""Durable transcode jobs on a Redis Stream, worked by a consumer group.

* ``<prefix>:media:transcode:jobs``: the stream; one entry per job (``job`` = its id). Workers
  read it as the consumer group ``transcoders``: an entry stays pending (owned by the worker that
  read it) until that worker acknowledges it.
* ``<prefix>:media:transcode:job:<id>``: the job's state hash (``state``, ``progress``,
  ``attempts``, ``worker``, outputs, ``completions``).

A job makes the MP4 and HLS of the composite and of each participant (``transcode.transcode``),
uploads them and, before it is marked done, hands their descriptions to ``on_renditions`` (the
media service registers them with the meeting service), so a done job's renditions are listed.

A worker that dies mid-job leaves its entry pending; a running worker refreshes the entry's idle
time every ``heartbeat_s`` (``XCLAIM`` to itself), so an entry idle for ``claim_idle_s`` belongs to
a dead worker and any worker takes it over (``XAUTOCLAIM``) and starts the job again from the
recording. Finishing is one Lua script: mark done, count the completion and acknowledge, only if
the job is not done already, so a job finishes once even when a slow worker and its replacement
both reach the end (the outputs are written under the same keys, so the second write is
identical).

``python -m services.media.jobs`` runs a worker on its own (tests kill one mid-job); with
``--registry-target`` it registers renditions as the media service's workers do.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import tempfile
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from meetmesh.media.internal.v1 import media_pb2
from meetmesh.meeting.internal.v1 import recordings_grpc, recordings_pb2
from meetmesh.meeting.v1 import meeting_pb2
from services.kit import PlatformSettings, Runtime, ServiceIdentity, channel
from services.kit.objects import ObjectStore, ObjectStoreSettings, object_store

from .transcode import Cancelled, Options, Rendition, transcode

log = logging.getLogger("meetmesh.media.jobs")

GROUP = "transcoders"
MAX_ATTEMPTS = 3
STATES = {
    "queued": media_pb2.TranscodeJob.STATE_QUEUED,
    "running": media_pb2.TranscodeJob.STATE_RUNNING,
    "done": media_pb2.TranscodeJob.STATE_DONE,
    "failed": media_pb2.TranscodeJob.STATE_FAILED,
}
MP4 = "video/mp4"
HLS = "application/vnd.apple.mpegurl"

#: Registers a finished job's renditions (recording name, renditions) before the job is marked done;
#: raising makes the attempt fail (and be retried), so nothing is done without being registered.
RenditionSink = Callable[[str, list[meeting_pb2.RecordingRendition]], Awaitable[None]]

# KEYS: job hash, stream; ARGV: group, entry id, mp4 key, hls key, duration. 1 if this call finished it.
_FINISH = """
if redis.call('HGET', KEYS[1], 'state') == 'done' then
  redis.call('XACK', KEYS[2], ARGV[1], ARGV[2])
  return 0
end
redis.call('HSET', KEYS[1], 'state', 'done', 'progress', '1', 'mp4_key', ARGV[3], 'hls_key', ARGV[4],
           'duration_seconds', ARGV[5])
redis.call('HINCRBY', KEYS[1], 'completions', 1)
redis.call('XACK', KEYS[2], ARGV[1], ARGV[2])
return 1
"""


def registry_sink(target: str, identity: ServiceIdentity) -> RenditionSink:
    """Registers renditions with the meeting service at ``target`` (``SetRecordingRenditions``)."""

    async def register(recording: str, renditions: list[meeting_pb2.RecordingRendition]) -> None:
        async with channel(target, identity) as ch:
            await recordings_grpc.RecordingRegistryServiceStub(ch).SetRecordingRenditions(
                recordings_pb2.SetRecordingRenditionsRequest(name=recording, renditions=renditions),
                timeout=10,
            )

    return register


def _text(raw: Any) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw or "")


@dataclass(frozen=True)
class WorkerSettings:
    options: Options = field(default_factory=Options)
    # An entry pending this long without a heartbeat belongs to a dead worker.
    claim_idle_s: float = 30.0
    heartbeat_s: float = 2.0
    block_s: float = 1.0


class TranscodeJobs:
    """The queue: enqueue, read a job's state, and work jobs (``run``)."""

    def __init__(
        self,
        redis: aioredis.Redis,
        prefix: str,
        objects: ObjectStore,
        settings: WorkerSettings | None = None,
        worker: str = "",
        on_renditions: RenditionSink | None = None,
    ) -> None:
        self.redis = redis
        self.stream = f"{prefix}:media:transcode:jobs"
        self.prefix = prefix
        self.objects = objects
        self.settings = settings or WorkerSettings()
        self.worker = worker or f"worker-{uuid.uuid4().hex[:8]}"
        self.on_renditions = on_renditions
        self._stop = threading.Event()
        self._finish = self.redis.register_script(_FINISH)

    def _key(self, job: str) -> str:
        return f"{self.prefix}:media:transcode:job:{job}"

    async def _ensure_group(self) -> None:
        with contextlib.suppress(aioredis.ResponseError):  # BUSYGROUP: it exists
            await self.redis.xgroup_create(self.stream, GROUP, id="0", mkstream=True)

    @staticmethod
    def new_id() -> str:
        """A job id, for a caller that names the job before queuing it (``enqueue(job=...)``)."""
        return uuid.uuid4().hex

    async def enqueue(self, recording: str, source_key: str, job: str = "") -> str:
        """Queue the transcode of the WebM at ``source_key``; returns the job id."""
        await self._ensure_group()
        job = job or self.new_id()
        base = source_key.rsplit(".", 1)[0]
        await self.redis.hset(
            self._key(job),
            mapping={
                "state": "queued",
                "progress": "0",
                "attempts": "0",
                "recording": recording,
                "source_key": source_key,
                "mp4_target": f"{base}.mp4",
                "hls_target": f"{base}/hls/index.m3u8",
                "completions": "0",
            },
        )
        await self.redis.xadd(self.stream, {"job": job})
        return job

    async def get(self, job: str) -> media_pb2.TranscodeJob | None:
        raw = await self.redis.hgetall(self._key(job))
        if not raw:
            return None
        fields = {_text(k): _text(v) for k, v in raw.items()}
        result = media_pb2.TranscodeJob(
            id=job,
            recording=fields.get("recording", ""),
            state=STATES.get(fields.get("state", ""), media_pb2.TranscodeJob.STATE_UNSPECIFIED),
            progress=float(fields.get("progress") or 0),
            attempts=int(fields.get("attempts") or 0),
            mp4_key=fields.get("mp4_key", ""),
            hls_key=fields.get("hls_key", ""),
            error=fields.get("error", ""),
            duration_seconds=float(fields.get("duration_seconds") or 0),
        )
        if result.mp4_key:
            result.mp4_uri = self.objects.presign_get(result.mp4_key)
        return result

    async def completions(self, job: str) -> int:
        return int(_text(await self.redis.hget(self._key(job), "completions")) or 0)

    # -- the worker -------------------------------------------------------------------------
    def stop(self) -> None:
        """Ask a running transcode to give up (its entry stays pending for another worker)."""
        self._stop.set()

    async def run(self) -> None:
        """Work jobs until cancelled: first jobs abandoned by dead workers, then new ones."""
        await self._ensure_group()
        idle_ms = int(self.settings.claim_idle_s * 1000)
        while not self._stop.is_set():
            claimed: Any = await self.redis.xautoclaim(
                self.stream, GROUP, self.worker, idle_ms, "0-0", count=1
            )
            entries: list[Any] = claimed[1] if claimed else []
            if not entries:
                # Polled, not a blocking read: a blocking command holds a connection (and stalled
                # the process on the in-process Redis, where forwarding then stopped).
                read: Any = await self.redis.xreadgroup(GROUP, self.worker, {self.stream: ">"}, count=1)
                entries = read[0][1] if read else []
            if not entries:
                await asyncio.sleep(self.settings.block_s)
            for entry_id, fields in entries:
                if fields:  # an entry deleted from the stream comes back without fields
                    await self._work(_text(entry_id), _text(fields.get(b"job") or fields.get("job")))

    async def _work(self, entry: str, job: str) -> None:
        key = self._key(job)
        state = _text(await self.redis.hget(key, "state"))
        if state in ("done", "failed", ""):
            await self.redis.xack(self.stream, GROUP, entry)  # finished once already (or unknown)
            return
        attempts = await self.redis.hincrby(key, "attempts", 1)
        if attempts > MAX_ATTEMPTS:
            await self.redis.hset(
                key, mapping={"state": "failed", "error": f"gave up after {MAX_ATTEMPTS} attempts"}
            )
            await self.redis.xack(self.stream, GROUP, entry)
            return
        await self.redis.hset(key, mapping={"state": "running", "worker": self.worker, "progress": "0"})
        fields = {_text(k): _text(v) for k, v in (await self.redis.hgetall(key)).items()}
        progress = [0.0]

        def report(fraction: float) -> None:
            if self._stop.is_set():
                raise Cancelled
            progress[0] = fraction

        heartbeat = asyncio.ensure_future(self._heartbeat(key, entry, progress))
        try:
            with tempfile.TemporaryDirectory(prefix="meetmesh-transcode-") as folder:
                source = Path(folder) / "source.webm"
                source.write_bytes(await self.objects.get_bytes(fields["source_key"]))
                started = time.monotonic()
                outputs = await asyncio.to_thread(
                    transcode, source, Path(folder) / "out", self.settings.options, report
                )
                result = outputs[0].result
                log.info(
                    "transcoded a recording",
                    extra={
                        "job": job,
                        "seconds": round(time.monotonic() - started, 2),
                        "tiles": result.tiles,
                        "participants": len(outputs) - 1,
                    },
                )
                renditions: list[meeting_pb2.RecordingRendition] = []
                for output in outputs:
                    renditions += await self._upload(fields, output)
                if self.on_renditions is not None:
                    await self.on_renditions(fields["recording"], renditions)
        except Cancelled:
            return  # stopping: the entry stays pending; a worker takes it over after claim_idle_s
        except Exception as exc:
            log.warning("a transcode attempt failed", extra={"job": job, "error": type(exc).__name__})
            await self.redis.hset(key, mapping={"state": "queued", "error": type(exc).__name__})
            return  # pending: retried (up to MAX_ATTEMPTS) once it has been idle claim_idle_s
        finally:
            heartbeat.cancel()
        await self._finish(
            keys=[key, self.stream],
            args=[GROUP, entry, fields["mp4_target"], fields["hls_target"], str(result.duration_s)],
        )

    async def _upload(
        self, fields: dict[str, str], output: Rendition
    ) -> list[meeting_pb2.RecordingRendition]:
        """Store one rendition's MP4 and HLS; their descriptions for the registry."""
        if output.participant:
            folder = output.mp4.parent.name  # the participant's key-safe folder name
            base = fields["mp4_target"].rsplit(".", 1)[0] + f"/participants/{folder}"
            mp4_key, hls_key = f"{base}.mp4", f"{base}/hls/index.m3u8"
            meeting = fields["recording"].split("/")[1]
            participant = f"meetings/{meeting}/participants/{output.participant}"
        else:
            mp4_key, hls_key, participant = fields["mp4_target"], fields["hls_target"], ""
        hls_folder = hls_key.rsplit("/", 1)[0]
        hls_size = 0
        for segment in sorted(output.playlist.parent.iterdir()):
            content_type = HLS if segment.suffix == ".m3u8" else "video/mp2t"
            hls_size += segment.stat().st_size
            await self.objects.put_file(f"{hls_folder}/{segment.name}", segment, content_type)
        await self.objects.put_file(mp4_key, output.mp4, MP4)
        duration = output.result.duration_s
        return [
            meeting_pb2.RecordingRendition(
                kind=meeting_pb2.RecordingRendition.KIND_MP4,
                participant=participant,
                object_key=mp4_key,
                media_type=MP4,
                size_bytes=output.mp4.stat().st_size,
                duration_seconds=duration,
            ),
            meeting_pb2.RecordingRendition(
                kind=meeting_pb2.RecordingRendition.KIND_HLS,
                participant=participant,
                object_key=hls_key,
                media_type=HLS,
                size_bytes=hls_size,
                duration_seconds=duration,
            ),
        ]

    async def _heartbeat(self, key: str, entry: str, progress: list[float]) -> None:
        """Keep the entry ours (reset its idle time) and publish progress while the job runs."""
        while True:
            await self.redis.xclaim(self.stream, GROUP, self.worker, 0, [entry], justid=True)
            await self.redis.hset(key, "progress", f"{progress[0]:.3f}")
            await asyncio.sleep(min(self.settings.heartbeat_s, 0.25))


def main() -> None:  # pragma: no cover - run as a process by the tests
    parser = argparse.ArgumentParser(description="Run one transcode worker.")
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--objects", required=True, help="ObjectStoreSettings as JSON")
    parser.add_argument("--keys-dir", required=True, type=Path)
    parser.add_argument("--claim-idle-s", type=float, default=30.0)
    parser.add_argument(
        "--registry-target",
        default="",
        help="the meeting service (host:port) to register renditions with; empty: not registered",
    )
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--preset", default="veryfast")
    args = parser.parse_args()

    async def run() -> None:
        redis = aioredis.from_url(args.redis_url)
        objects = object_store(ObjectStoreSettings.model_validate_json(args.objects), args.keys_dir)
        options = Options(width=args.width, height=args.height, preset=args.preset)
        sink = None
        if args.registry_target:
            identity = Runtime(PlatformSettings(keys_dir=args.keys_dir)).identity("media")
            sink = registry_sink(args.registry_target, identity)
        jobs = TranscodeJobs(
            redis,
            args.prefix,
            objects,
            WorkerSettings(options, claim_idle_s=args.claim_idle_s),
            on_renditions=sink,
        )
        await jobs.run()

    asyncio.run(run())


if __name__ == "__main__":  # pragma: no cover
    main()
