"""Recording: the meeting's forwarded packets remuxed (never re-encoded) into WebM with PyAV.

A :class:`Recorder` taps every source of a room, present and future, and keeps the packets with
their arrival time. On stop it writes one WebM file with a stream per track, aligned on the
wall clock (each track's first packet is placed at its arrival offset from the start).
"""

from __future__ import annotations

import fractions
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av

from .forwarding import PacketSource
from .sfu import Room

MEDIA_TYPE = "video/webm"


@dataclass
class TrackRecord:
    kind: str
    clock_rate: int
    offset_s: float  # arrival of the first packet, from the start of the recording
    first_pts: int | None = None
    dimensions: tuple[int, int] | None = None
    packets: list[tuple[int, bytes, bool]] = field(default_factory=list)  # (pts, data, keyframe)


class Recorder:
    def __init__(self, room: Room) -> None:
        self.room = room
        self.started_wall = time.time()
        self._started = time.monotonic()
        self.tracks: dict[str, TrackRecord] = {}
        self._sources: list[PacketSource] = []
        room.source_listeners.append(self._on_source)
        for _participant, source in room.sources.values():
            self._on_source(_participant, source)

    def _on_source(self, _participant: str, source: PacketSource) -> None:
        self._sources.append(source)
        source.add_tap(self._tap)

    def _tap(self, source: PacketSource, packet: av.Packet) -> None:
        record = self.tracks.get(source.track_id)
        if record is None:
            if source.kind == "video" and not packet.is_keyframe:
                return  # start at a keyframe (add_tap asked for one)
            clock = packet.time_base.denominator if packet.time_base else 90000
            record = self.tracks[source.track_id] = TrackRecord(
                source.kind, clock, time.monotonic() - self._started
            )
        if record.first_pts is None:
            record.first_pts = int(packet.pts or 0)
        if source.kind == "video" and record.dimensions is None:
            record.dimensions = source.dimensions
        record.packets.append(
            (int(packet.pts or 0) - record.first_pts, bytes(packet), bool(packet.is_keyframe))
        )

    def stop(self) -> None:
        if self._on_source in self.room.source_listeners:
            self.room.source_listeners.remove(self._on_source)
        for source in self._sources:
            source.remove_tap(self._tap)

    @property
    def duration_s(self) -> float:
        return time.monotonic() - self._started

    def write(self, path: Path) -> float:
        """Mux what was recorded into ``path``; returns the media duration in seconds."""
        return remux(list(self.tracks.values()), path)


def remux(tracks: list[TrackRecord], path: Path) -> float:
    output = av.open(str(path), "w", format="webm")
    events: list[tuple[float, int, int, bytes, bool]] = []
    streams = []
    end = 0.0
    try:
        for index, track in enumerate(tracks):
            if not track.packets:
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
            streams.append((index, stream))
            offset_ticks = round(track.offset_s * track.clock_rate)
            for pts, data, keyframe in track.packets:
                ticks = pts + offset_ticks
                events.append((ticks / track.clock_rate, index, ticks, data, keyframe))
        by_index = dict(streams)
        events.sort(key=lambda e: (e[0], e[1]))
        last_ticks: dict[int, int] = {}
        for seconds, index, ticks, data, keyframe in events:
            if ticks <= last_ticks.get(index, -1):
                continue  # a retransmitted or reordered frame: keep timestamps increasing
            last_ticks[index] = ticks
            packet = av.Packet(data)
            packet.pts = packet.dts = ticks
            packet.time_base = fractions.Fraction(1, tracks[index].clock_rate)
            packet.is_keyframe = keyframe
            packet.stream = by_index[index]
            output.mux(packet)
            end = max(end, seconds)
    finally:
        output.close()
    return end
