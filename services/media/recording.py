"""Recording: the meeting's forwarded packets remuxed (never re-encoded) into WebM with PyAV.

A :class:`Recorder` taps every source of a room, present and future, and spools each track's
packets to a temporary file (memory stays flat however long the meeting). On stop it merges the
spools into one WebM file with a stream per track, aligned on the wall clock (each track's first
packet is placed at its arrival offset from the start).
"""

from __future__ import annotations

import fractions
import heapq
import struct
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import av

from .forwarding import PacketSource
from .sfu import Room

MEDIA_TYPE = "video/webm"


_HEADER = struct.Struct("<q?I")  # pts, keyframe, length


@dataclass
class TrackRecord:
    kind: str
    clock_rate: int
    offset_s: float  # arrival of the first packet, from the start of the recording
    participant: str = ""  # written as the stream's title (the composite matches audio to video)
    first_pts: int | None = None
    dimensions: tuple[int, int] | None = None
    count: int = 0
    # Closed by close() (after write, or discard when recording is abandoned).
    spool: IO[bytes] = field(default_factory=lambda: tempfile.TemporaryFile(prefix="meetmesh-rec-"))  # noqa: SIM115

    def append(self, pts: int, data: bytes, keyframe: bool) -> None:
        self.spool.write(_HEADER.pack(pts, keyframe, len(data)))
        self.spool.write(data)
        self.count += 1

    def packets(self) -> Iterator[tuple[int, bytes, bool]]:
        """(pts, data, keyframe) in arrival order."""
        self.spool.flush()
        self.spool.seek(0)
        while header := self.spool.read(_HEADER.size):
            pts, keyframe, length = _HEADER.unpack(header)
            yield pts, self.spool.read(length), keyframe

    def close(self) -> None:
        self.spool.close()


class Recorder:
    def __init__(self, room: Room) -> None:
        self.room = room
        self.started_wall = time.time()
        self._started = time.monotonic()
        self.tracks: dict[str, TrackRecord] = {}
        self._sources: list[PacketSource] = []
        self._owners: dict[str, str] = {}  # track id -> participant
        room.source_listeners.append(self._on_source)
        for _participant, source in room.sources.values():
            self._on_source(_participant, source)

    def _on_source(self, participant: str, source: PacketSource) -> None:
        self._sources.append(source)
        self._owners[source.track_id] = participant
        source.add_tap(self._tap)

    def _tap(self, source: PacketSource, packet: av.Packet) -> None:
        record = self.tracks.get(source.track_id)
        if record is None:
            if source.kind == "video" and not packet.is_keyframe:
                # Start at a keyframe, and keep asking until one comes: add_tap's request alone
                # is lost when a subscriber's PLI went out within PLI_MIN_INTERVAL_S before it
                # (the rate limit drops it), and the track then started only at the publisher's
                # next keyframe, seconds later: a black tile in the composite meanwhile.
                source.request_keyframe()  # rate-limited
                return
            clock = packet.time_base.denominator if packet.time_base else 90000
            record = self.tracks[source.track_id] = TrackRecord(
                source.kind, clock, time.monotonic() - self._started, self._owners.get(source.track_id, "")
            )
        if record.first_pts is None:
            record.first_pts = int(packet.pts or 0)
        if source.kind == "video" and record.dimensions is None:
            record.dimensions = source.dimensions
        record.append(int(packet.pts or 0) - record.first_pts, bytes(packet), bool(packet.is_keyframe))

    def stop(self) -> None:
        if self._on_source in self.room.source_listeners:
            self.room.source_listeners.remove(self._on_source)
        for source in self._sources:
            source.remove_tap(self._tap)

    def discard(self) -> None:
        """Drop what was recorded (the service is stopping without a StopRecording)."""
        self.stop()
        for record in self.tracks.values():
            record.close()

    @property
    def has_media(self) -> bool:
        """Whether any packet was recorded (a meeting without media has nothing to write)."""
        return any(record.count for record in self.tracks.values())

    @property
    def duration_s(self) -> float:
        return time.monotonic() - self._started

    def write(self, path: Path) -> float:
        """Mux what was recorded into ``path``; returns the media duration in seconds."""
        try:
            return remux(list(self.tracks.values()), path)
        finally:
            for record in self.tracks.values():
                record.close()


def _timeline(index: int, track: TrackRecord) -> Iterator[tuple[float, int, int, bytes, bool]]:
    offset_ticks = round(track.offset_s * track.clock_rate)
    for pts, data, keyframe in track.packets():
        ticks = pts + offset_ticks
        yield ticks / track.clock_rate, index, ticks, data, keyframe


def remux(tracks: list[TrackRecord], path: Path) -> float:
    output = av.open(str(path), "w", format="webm")
    streams: dict[int, Any] = {}
    end = 0.0
    try:
        for index, track in enumerate(tracks):
            if not track.count:
                continue
            stream: Any
            if track.kind == "video":
                stream = output.add_stream("libvpx", rate=30)
                stream.width, stream.height = track.dimensions or (640, 480)
                stream.pix_fmt = "yuv420p"
            else:
                stream = output.add_stream("libopus", rate=48000)
                stream.layout = "stereo"
            stream.time_base = fractions.Fraction(1, track.clock_rate)
            if track.participant:
                stream.metadata["title"] = track.participant
            streams[index] = stream
        last_ticks: dict[int, int] = {}
        timelines = [_timeline(index, tracks[index]) for index in streams]
        for seconds, index, ticks, data, keyframe in heapq.merge(*timelines, key=lambda e: (e[0], e[1])):
            if ticks <= last_ticks.get(index, -1):
                continue  # a retransmitted or reordered frame: keep timestamps increasing
            last_ticks[index] = ticks
            packet = av.Packet(data)
            packet.pts = packet.dts = ticks
            packet.time_base = fractions.Fraction(1, tracks[index].clock_rate)
            packet.is_keyframe = keyframe
            packet.stream = streams[index]
            output.mux(packet)
            end = max(end, seconds)
    finally:
        output.close()
    return end
