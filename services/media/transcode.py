"""Transcoding a recording: the per-track WebM becomes MP4 (H.264 + AAC) and HLS, once as a
composite of everyone and once per participant.

The composite follows LiveKit's room-composite egress: every video track is a tile of a grid,
every audio track is mixed into one, and the tile of the active speaker (the loudest audio
track, matched to its video by the participant id the recorder writes as each stream's
``title``) gets a highlight border. Decoding and encoding are PyAV (libvpx/libopus in, libx264
and FFmpeg's aac out); composition and mixing are numpy. HLS is a remux of the MP4's packets into
MPEG-TS segments (FFmpeg's ``hls`` muxer), nothing is encoded twice.

Per participant (LiveKit's track-composite egress): the same path restricted to the streams whose
``title`` is that participant, at the size of its video, on the recording's timeline (a late
joiner's rendition starts with black and silence, so it plays in step with the composite).

Everything here is synchronous and meant for a worker thread; ``progress(fraction)`` is called
as the composite advances, and raising from it (e.g. :class:`Cancelled`) aborts the job.
"""

from __future__ import annotations

import fractions
import hashlib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np

SAMPLE_RATE = 48000
AAC_FRAME = 1024
HIGHLIGHT = (255, 200, 0)
Samples = np.ndarray[Any, Any]
SPEAKING_RMS = 0.01
SPEAKER_WINDOW_S = 0.5


class Cancelled(Exception):
    """Raised by a progress callback to stop a transcode (the worker is shutting down)."""


@dataclass(frozen=True)
class Options:
    width: int = 1280
    height: int = 720
    fps: int = 30
    preset: str = "veryfast"
    hls_segment_s: int = 4


@dataclass(frozen=True)
class Result:
    duration_s: float
    frames: int
    tiles: int


def grid_layout(n: int, width: int, height: int) -> list[tuple[int, int, int, int]]:
    """(x, y, w, h) of ``n`` tiles in a ``width`` x ``height`` canvas: rows of ``ceil(sqrt(n))``
    columns, every tile the same (even) size, left to right, top to bottom."""
    if n <= 0:
        return []
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    w, h = (width // cols) & ~1, (height // rows) & ~1
    return [((i % cols) * w, (i // cols) * h, w, h) for i in range(n)]


def _participant(stream: Any) -> str:
    return str(stream.metadata.get("title") or stream.metadata.get("TITLE") or "")


class _Mixer:
    """Sums the audio tracks into 1024-sample mono chunks, handed to the encoder in order."""

    def __init__(self) -> None:
        self.chunks: dict[int, Samples] = {}
        self.next = 0

    def add(self, start_sample: int, samples: Samples) -> None:
        position = max(start_sample, 0)
        offset = 0
        while offset < len(samples):
            index, within = divmod(position, AAC_FRAME)
            if index < self.next:  # too late (already encoded): drop
                step = AAC_FRAME - within
            else:
                chunk = self.chunks.setdefault(index, np.zeros(AAC_FRAME, np.float32))
                step = min(AAC_FRAME - within, len(samples) - offset)
                chunk[within : within + step] += samples[offset : offset + step]
            position += step
            offset += step

    def ready(self, until_sample: int) -> list[tuple[int, Samples]]:
        """Chunks that end before ``until_sample`` (silence where nothing was added)."""
        out = []
        while (self.next + 1) * AAC_FRAME <= until_sample:
            chunk = self.chunks.pop(self.next, None)
            out.append((self.next, np.zeros(AAC_FRAME, np.float32) if chunk is None else chunk))
            self.next += 1
        return out


def participants(source: Path) -> list[str]:
    """The participants whose tracks the recording at ``source`` holds, in stream order."""
    with av.open(str(source)) as src:
        seen = [_participant(s) for s in src.streams if s.type in ("video", "audio")]
    return list(dict.fromkeys(p for p in seen if p))


def _even(n: int) -> int:
    return max(2, n & ~1)


def composite(
    source: Path,
    mp4: Path,
    options: Options | None = None,
    progress: Callable[[float], None] = lambda _: None,
    participant: str | None = None,
) -> Result:
    """Compose the recording at ``source`` (the recorder's WebM) into ``mp4``.

    ``participant`` given: only that participant's tracks (LiveKit's track-composite egress), at
    the size of its video when it has one video track (else ``options``' size); audio only when
    it published no video."""
    options = options or Options()
    with av.open(str(source)) as src:
        chosen = [
            s
            for s in src.streams
            if s.type in ("video", "audio") and (participant is None or _participant(s) == participant)
        ]
        videos = [s for s in chosen if s.type == "video"]
        audios = [s for s in chosen if s.type == "audio"]
        duration = (src.duration or 0) / 1e6
        width, height = options.width, options.height
        if participant is not None and len(videos) == 1:
            context: Any = videos[0].codec_context
            width, height = _even(context.width or width), _even(context.height or height)
        layout = grid_layout(len(videos), width, height)
        tile_of = {s.index: i for i, s in enumerate(videos)}
        tile_by_participant = {_participant(s): i for i, s in enumerate(videos) if _participant(s)}
        speaker_tile = {a.index: tile_by_participant.get(_participant(a)) for a in audios}
        latest: list[Samples | None] = [None] * len(videos)
        levels: dict[int, tuple[float, float]] = {}  # audio stream -> (time, rms)
        resampler = {
            a.index: av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE) for a in audios
        }
        mixer = _Mixer()

        out = av.open(str(mp4), "w", format="mp4", options={"movflags": "+faststart"})
        video_out: Any = None
        if videos or not audios:
            video_out = out.add_stream("libx264", rate=options.fps, options={"preset": options.preset})
            video_out.width, video_out.height, video_out.pix_fmt = width, height, "yuv420p"
            # A keyframe every HLS segment, so the segments are hls_segment_s long (x264's default
            # of 250 frames made one 8-s segment of a short recording).
            video_out.gop_size = options.fps * options.hls_segment_s
        audio_out: Any = out.add_stream("aac", rate=SAMPLE_RATE, layout="mono") if audios else None
        frames = 0
        last_audio = 0.0

        def active_tile(t: float) -> int | None:
            best, loudest = None, SPEAKING_RMS
            for index, (at, rms) in levels.items():
                if t - SPEAKER_WINDOW_S <= at <= t + SPEAKER_WINDOW_S and rms > loudest:
                    best, loudest = speaker_tile.get(index), rms
            return best

        def emit_until(t_end: float) -> None:
            nonlocal frames
            if video_out is None:
                return
            while frames / options.fps < t_end:
                t = frames / options.fps
                canvas = np.zeros((height, width, 3), np.uint8)
                for i, tile in enumerate(latest):
                    if tile is not None:
                        x, y, w, h = layout[i]
                        canvas[y : y + h, x : x + w] = tile
                speaker = active_tile(t)
                if speaker is not None and len(videos) > 1:
                    x, y, w, h = layout[speaker]
                    border = max(2, height // 120)
                    canvas[y : y + border, x : x + w] = HIGHLIGHT
                    canvas[y + h - border : y + h, x : x + w] = HIGHLIGHT
                    canvas[y : y + h, x : x + border] = HIGHLIGHT
                    canvas[y : y + h, x + w - border : x + w] = HIGHLIGHT
                frame = av.VideoFrame.from_ndarray(canvas, format="rgb24").reformat(format="yuv420p")
                frame.pts = frames
                frame.time_base = fractions.Fraction(1, options.fps)
                for packet in video_out.encode(frame):
                    out.mux(packet)
                frames += 1
                if duration and frames % options.fps == 0:
                    progress(min(t / duration, 0.99))

        def flush_audio(until_s: float) -> None:
            nonlocal last_audio
            if audio_out is None:
                return
            for index, samples in mixer.ready(int(until_s * SAMPLE_RATE)):
                last_audio = (index + 1) * AAC_FRAME / SAMPLE_RATE
                if video_out is None and duration and index % 50 == 0:
                    progress(min(last_audio / duration, 0.99))
                chunk = av.AudioFrame.from_ndarray(
                    np.clip(samples, -1, 1).reshape(1, -1), format="flt", layout="mono"
                )
                chunk.sample_rate = SAMPLE_RATE
                chunk.pts = index * AAC_FRAME
                chunk.time_base = fractions.Fraction(1, SAMPLE_RATE)
                for packet in audio_out.encode(chunk):
                    out.mux(packet)

        try:
            for packet in src.demux(*videos, *audios):
                stream_index = packet.stream.index
                for decoded in packet.decode():
                    if not isinstance(decoded, (av.VideoFrame, av.AudioFrame)):
                        continue
                    t = float(decoded.time or 0.0)
                    if isinstance(decoded, av.VideoFrame):
                        emit_until(t)
                        _, _, w, h = layout[tile_of[stream_index]]
                        latest[tile_of[stream_index]] = decoded.reformat(w, h, format="rgb24").to_ndarray()
                    elif isinstance(decoded, av.AudioFrame):
                        for mono in resampler[stream_index].resample(decoded):
                            samples = mono.to_ndarray().reshape(-1).astype(np.float32)
                            mixer.add(round(t * SAMPLE_RATE), samples)
                            rms = float(np.sqrt(np.mean(samples**2))) if len(samples) else 0.0
                            levels[stream_index] = (t, rms)
                        flush_audio(t - 1.0)  # keep a second for the other tracks to catch up
            end = max(duration, frames / options.fps)
            emit_until(end)
            flush_audio(end + AAC_FRAME / SAMPLE_RATE)
            if video_out is not None:
                for packet in video_out.encode(None):
                    out.mux(packet)
            if audio_out is not None:
                for packet in audio_out.encode(None):
                    out.mux(packet)
        finally:
            out.close()
    progress(0.99)
    length = frames / options.fps if video_out is not None else last_audio
    return Result(duration_s=length, frames=frames, tiles=len(videos))


def to_hls(mp4: Path, folder: Path, segment_s: int = 4) -> Path:
    """Remux ``mp4`` into ``folder/index.m3u8`` and its ``seg00000.ts`` segments (VOD playlist)."""
    folder.mkdir(parents=True, exist_ok=True)
    playlist = folder / "index.m3u8"
    with av.open(str(mp4)) as src:
        out = av.open(
            str(playlist),
            "w",
            format="hls",
            options={
                "hls_time": str(segment_s),
                "hls_playlist_type": "vod",
                "hls_segment_filename": str(folder / "seg%05d.ts"),
            },
        )
        try:
            mapping = {
                s.index: out.add_stream_from_template(s) for s in src.streams if s.type in ("video", "audio")
            }
            for packet in src.demux(*[s for s in src.streams if s.index in mapping]):
                if packet.dts is None:
                    continue
                packet.stream = mapping[packet.stream.index]
                out.mux(packet)
        finally:
            out.close()
    return playlist


@dataclass(frozen=True)
class Rendition:
    """One transcoded form: the composite (``participant`` empty) or one participant's tracks."""

    participant: str
    mp4: Path
    playlist: Path
    result: Result


def _folder_name(participant: str) -> str:
    """A participant id as a file and object-key segment (ids are already safe; others hashed)."""
    if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}", participant):
        return participant
    return "p-" + hashlib.sha256(participant.encode()).hexdigest()[:16]


def transcode(
    source: Path,
    folder: Path,
    options: Options | None = None,
    progress: Callable[[float], None] = lambda _: None,
) -> list[Rendition]:
    """The MP4 and HLS of a recording: first the composite (``folder/recording.mp4``,
    ``folder/hls/index.m3u8``), then each participant's (``folder/participants/<id>/...``)."""
    options = options or Options()
    folder.mkdir(parents=True, exist_ok=True)
    who = participants(source)
    # The composite is the bulk of the work (the full canvas); each participant's counts for less.
    weights = [2.0] + [1.0] * len(who)
    total = sum(weights)
    done = 0.0
    renditions = []
    for index, participant in enumerate([None, *who]):
        here = folder if participant is None else folder / "participants" / _folder_name(participant)
        here.mkdir(parents=True, exist_ok=True)
        base, weight = done, weights[index]

        def part(fraction: float, base: float = base, weight: float = weight) -> None:
            progress(min((base + fraction * weight) / total, 0.99))

        mp4 = here / "recording.mp4"
        result = composite(source, mp4, options, part, participant)
        playlist = to_hls(mp4, here / "hls", options.hls_segment_s)
        renditions.append(Rendition(participant or "", mp4, playlist, result))
        done += weight
    return renditions
