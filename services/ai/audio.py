"""Audio decoding and conversion to what the models take: 16 kHz mono float32 in [-1, 1]."""

from __future__ import annotations

import io

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from services.kit import InvalidArgument

SAMPLE_RATE = 16000
STREAM_RATES = (8000, 16000, 24000, 32000, 44100, 48000)
MAX_FILE_SECONDS = 600


def resample(audio: np.ndarray, rate: int) -> np.ndarray:
    if rate == SAMPLE_RATE:
        return audio.astype(np.float32, copy=False)
    g = np.gcd(rate, SAMPLE_RATE)
    return resample_poly(audio, SAMPLE_RATE // g, rate // g).astype(np.float32)


def pcm_samples(data: bytes, encoding: str) -> np.ndarray:
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


def decode_file(data: bytes) -> np.ndarray:
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
