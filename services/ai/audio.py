"""Audio decoding and conversion to what the models take: 16 kHz mono float32 in [-1, 1]."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import soundfile as sf
from numpy.typing import NDArray
from scipy.signal import resample_poly

from services.kit import InvalidArgument

SAMPLE_RATE = 16000
STREAM_RATES = (8000, 16000, 24000, 32000, 44100, 48000)
MAX_FILE_SECONDS = 600


def resample(audio: NDArray[Any], rate: int) -> NDArray[Any]:
    if rate == SAMPLE_RATE:
        return audio.astype(np.float32, copy=False)
    g = np.gcd(rate, SAMPLE_RATE)
    resampled: NDArray[Any] = resample_poly(audio, SAMPLE_RATE // g, rate // g).astype(np.float32)
    return resampled


def pcm_samples(data: bytes, encoding: str) -> NDArray[Any]:
    """Samples of one stream chunk; `encoding` is "LINEAR16" or "FLOAT32"."""
    width = 2 if encoding == "LINEAR16" else 4
    if len(data) % width:
        raise InvalidArgument([("audio.data", f"length must be a multiple of {width} bytes for {encoding}")])
    if encoding == "LINEAR16":
        return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
    samples = np.frombuffer(data, dtype="<f4")
    if not np.all(np.isfinite(samples)) or np.abs(samples).max(initial=0) > 1.0 + 1e-3:
        raise InvalidArgument([("audio.data", "FLOAT32 samples must be finite and within [-1, 1]")])
    return samples.astype(np.float32)


def decode_file(data: bytes) -> NDArray[Any]:
    """An uploaded audio file (WAV, FLAC, Ogg) as 16 kHz mono; INVALID_ARGUMENT when unreadable."""
    try:
        info = sf.info(io.BytesIO(data))
        if info.frames / max(info.samplerate, 1) > MAX_FILE_SECONDS:
            raise InvalidArgument([("audio", f"longer than {MAX_FILE_SECONDS} s")])
        audio, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise InvalidArgument([("audio", "is not a readable WAV, FLAC or Ogg file")]) from exc
    if rate < 8000 or rate > 192000:
        raise InvalidArgument([("audio", f"sample rate {rate} Hz is not supported (8-192 kHz)")])
    return resample(audio.mean(axis=1), int(rate))


class StreamResampler:
    """Resamples a stream chunk by chunk without edge artefacts at chunk boundaries.

    Each output sample is computed with `context` input samples on both sides, so the last
    `context` samples of input are held back until the next chunk (or `flush`).
    """

    def __init__(self, rate: int) -> None:
        g = np.gcd(rate, SAMPLE_RATE)
        self.up, self.down = SAMPLE_RATE // g, rate // g
        self.context = 32 * self.down
        self.buffer = np.zeros(0, dtype=np.float32)
        self.base = 0  # absolute input index of buffer[0]
        self.done = 0  # absolute input index up to which output was produced (a multiple of down)

    def push(self, samples: NDArray[Any]) -> NDArray[Any]:
        if self.up == self.down:
            return samples.astype(np.float32, copy=False)
        self.buffer = np.concatenate([self.buffer, samples])
        end = self.base + self.buffer.size - self.context
        return self._produce(end - end % self.down)

    def flush(self) -> NDArray[Any]:
        if self.up == self.down:
            return np.zeros(0, dtype=np.float32)
        self.buffer = np.concatenate([self.buffer, np.zeros(self.context + self.down, dtype=np.float32)])
        end = self.base + self.buffer.size - self.context - self.down
        return self._produce(end - end % self.down)

    def _produce(self, end: int) -> NDArray[Any]:
        if end <= self.done:
            return np.zeros(0, dtype=np.float32)
        first = max(self.done - self.context, 0)
        piece = self.buffer[first - self.base : end + self.context - self.base]
        out = resample_poly(piece, self.up, self.down)
        skip = (self.done - first) * self.up // self.down
        count = (end - self.done) * self.up // self.down
        result: NDArray[Any] = out[skip : skip + count].astype(np.float32)
        keep_from = end - self.context
        if keep_from > self.base:
            self.buffer = self.buffer[keep_from - self.base :]
            self.base = keep_from
        self.done = end
        return result
