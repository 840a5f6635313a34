"""Media sources a bot can publish: synthetic (solid colour video, sine-tone audio) or a file."""

from __future__ import annotations

import asyncio
import fractions
import math
import time

import numpy as np
from aiortc import MediaStreamTrack
from aiortc.contrib.media import MediaPlayer
from aiortc.mediastreams import MediaStreamError
from av import AudioFrame, VideoFrame

VIDEO_CLOCK = 90000
AUDIO_RATE = 48000
AUDIO_PTIME = 0.02


class _Paced(MediaStreamTrack):
    """Real-time pacing shared by the synthetic tracks."""

    def __init__(self, period_s: float) -> None:
        super().__init__()
        self._period = period_s
        self._start: float | None = None
        self._index = 0

    async def _next_index(self) -> int:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        else:
            self._index += 1
            delay = self._start + self._index * self._period - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        return self._index


class ColorVideoTrack(_Paced):
    """A solid-colour video (RGB) with a moving bar, so encoders produce real interframes."""

    kind = "video"

    def __init__(self, rgb: tuple[int, int, int], width: int = 320, height: int = 240, fps: int = 30):
        super().__init__(1 / fps)
        self._fps = fps
        self._image = np.empty((height, width, 3), np.uint8)
        self._image[:] = rgb
        self._rgb = rgb

    async def recv(self) -> VideoFrame:
        index = await self._next_index()
        image = self._image.copy()
        x = (index * 4) % (image.shape[1] - 8)
        image[: image.shape[0] // 8, x : x + 8] = (255 - self._rgb[0], 255 - self._rgb[1], 255 - self._rgb[2])
        frame = VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts = index * VIDEO_CLOCK // self._fps
        frame.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        return frame


class ToneAudioTrack(_Paced):
    """A sine tone, 48 kHz mono, 20 ms frames."""

    kind = "audio"

    def __init__(self, frequency_hz: float = 440.0, amplitude: float = 0.3) -> None:
        super().__init__(AUDIO_PTIME)
        self._frequency = frequency_hz
        self._amplitude = amplitude

    async def recv(self) -> AudioFrame:
        index = await self._next_index()
        samples = int(AUDIO_RATE * AUDIO_PTIME)
        t = (np.arange(samples) + index * samples) / AUDIO_RATE
        wave = (self._amplitude * 32767 * np.sin(2 * math.pi * self._frequency * t)).astype(np.int16)
        frame = AudioFrame.from_ndarray(wave.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = AUDIO_RATE
        frame.pts = index * samples
        frame.time_base = fractions.Fraction(1, AUDIO_RATE)
        return frame


def file_tracks(path: str, loop: bool = False) -> tuple[MediaStreamTrack | None, MediaStreamTrack | None]:
    """(audio, video) tracks playing a media file in real time."""
    player = MediaPlayer(path, loop=loop)
    return player.audio, player.video


def dominant_rgb(frame: VideoFrame) -> tuple[int, int, int]:
    """The median colour of a decoded frame's lower half (below the moving bar)."""
    image = frame.to_ndarray(format="rgb24")
    lower = image[image.shape[0] // 2 :]
    r, g, b = (int(np.median(lower[..., c])) for c in range(3))
    return r, g, b
