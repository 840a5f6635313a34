"""Utterance features for the synthetic-speech detector (numpy only).

The same file is copied into the Triton model version that serves the detector, so training and
serving compute features with identical code. Features look at 0-4 kHz only, so that the bandwidth
of a recording (8 kHz TTS voices, 22 kHz game dialogue, Opus in meetings) is not a cue.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

SAMPLE_RATE = 16000
_FRAME = 400  # 25 ms
_HOP = 160  # 10 ms
_NFFT = 512
_MELS = 32
_FMAX = 4000.0


def _mel_filterbank() -> NDArray[Any]:
    def hz_to_mel(hz: NDArray[Any]) -> NDArray[Any]:
        mel: NDArray[Any] = 2595.0 * np.log10(1.0 + hz / 700.0)
        return mel

    def mel_to_hz(mel: NDArray[Any]) -> NDArray[Any]:
        return 700.0 * (10 ** (mel / 2595.0) - 1.0)

    points = mel_to_hz(np.linspace(hz_to_mel(np.array(60.0)), hz_to_mel(np.array(_FMAX)), _MELS + 2))
    bins = np.floor((_NFFT + 1) * points / SAMPLE_RATE).astype(int)
    bank = np.zeros((_MELS, _NFFT // 2 + 1), dtype=np.float32)
    for m in range(1, _MELS + 1):
        left, centre, right = bins[m - 1], bins[m], bins[m + 1]
        for k in range(left, centre):
            bank[m - 1, k] = (k - left) / max(centre - left, 1)
        for k in range(centre, right):
            bank[m - 1, k] = (right - k) / max(right - centre, 1)
    return bank


_BANK = _mel_filterbank()
_WINDOW = np.hanning(_FRAME).astype(np.float32)


def log_mel(audio: NDArray[Any]) -> NDArray[Any]:
    """Log-mel energies [frames, 32] of 16 kHz mono float audio."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.size < _FRAME:
        audio = np.pad(audio, (0, _FRAME - audio.size))
    frames = 1 + (audio.size - _FRAME) // _HOP
    idx = np.arange(_FRAME)[None, :] + _HOP * np.arange(frames)[:, None]
    spectrum = np.abs(np.fft.rfft(audio[idx] * _WINDOW, n=_NFFT)) ** 2
    energies: NDArray[Any] = np.log(spectrum @ _BANK.T + 1e-8)
    return energies


def features(audio: NDArray[Any]) -> NDArray[Any]:
    """A fixed-length vector describing one utterance (gain-invariant)."""
    mel = log_mel(audio)
    energy = mel.mean(axis=1)
    voiced = mel[energy > np.percentile(energy, 40)]
    if len(voiced) < 3:
        voiced = mel
    voiced = voiced - voiced.mean()  # gain invariance
    delta = np.diff(voiced, axis=0)
    flatness = np.exp(voiced.mean(axis=1)) / (np.exp(voiced).mean(axis=1) + 1e-8)
    cepstrum = np.fft.rfft(voiced, axis=1).real[:, 1:13]
    vector: NDArray[Any] = np.concatenate(
        [
            voiced.mean(axis=0),
            voiced.std(axis=0),
            np.abs(delta).mean(axis=0),
            delta.std(axis=0),
            cepstrum.std(axis=0),
            np.abs(np.diff(cepstrum, axis=0)).mean(axis=0),
            [flatness.mean(), flatness.std()],
        ]
    ).astype(np.float32)
    return vector
