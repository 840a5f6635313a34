"""Utterance features for the synthetic-speech detector (numpy only).

The same file is copied into the Triton model version that serves the detector, so training and
serving compute features with identical code. Features look at 0-4 kHz only, so that the bandwidth
of a recording (8 kHz TTS voices, 22 kHz game dialogue, Opus in meetings) is not a cue.

Five families, concatenated by `features`:
- log-mel statistics (spectral envelope and its movement, 32 bands);
- prosody: pitch and voicing from the normalised autocorrelation (voicing strength, F0 spread,
  frame-to-frame pitch and energy steps and their second differences: jitter/shimmer-like
  roughness that rule-based and parametric voices lack);
- modulation spectrum: how fast the energy of 8 bands moves (0.5-50 Hz);
- linear-spectrum statistics: flatness, flux, harmonic contrast and linear-frequency cepstra (LFCC);
- LPC residual: peakiness, regularity and gain of the excitation left after a 12th-order linear
  prediction (vocoders and diphone voices excite with pulse trains or stored residuals).
"""

from __future__ import annotations

import itertools
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


def _frames(audio: NDArray[Any], size: int, hop: int) -> NDArray[Any]:
    if audio.size < size:
        audio = np.pad(audio, (0, size - audio.size))
    count = 1 + (audio.size - size) // hop
    idx = np.arange(size)[None, :] + hop * np.arange(count)[:, None]
    frames: NDArray[Any] = audio[idx]
    return frames


_W_PITCH = np.hanning(640)
_W_PITCH_AC = np.fft.irfft(np.abs(np.fft.rfft(_W_PITCH, n=1280)) ** 2, n=1280)[:400]
_LAG_MIN, _LAG_MAX = SAMPLE_RATE // 400, SAMPLE_RATE // 60  # F0 400 Hz .. 60 Hz


def pitch(audio: NDArray[Any]) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any]]:
    """Per 10 ms (40 ms window): F0 in Hz, voicing strength (normalised autocorrelation peak) and
    log energy."""
    frames = _frames(np.asarray(audio, dtype=np.float64), 640, _HOP)
    frames = frames - frames.mean(axis=1, keepdims=True)
    ac = np.fft.irfft(np.abs(np.fft.rfft(frames * _W_PITCH, n=1280)) ** 2, n=1280)[:, :400]
    ac = ac / (_W_PITCH_AC[None, :] + 1e-9)
    ac = ac / (ac[:, :1] + 1e-9)
    seg = ac[:, _LAG_MIN:_LAG_MAX]
    rows = np.arange(len(seg))
    k = np.clip(seg.argmax(axis=1), 1, seg.shape[1] - 2)
    before, peak, after = seg[rows, k - 1], seg[rows, k], seg[rows, k + 1]
    offset = np.clip(0.5 * (before - after) / (before - 2 * peak + after + 1e-9), -1, 1)
    f0 = SAMPLE_RATE / (_LAG_MIN + k + offset)
    energy = np.log((frames**2).mean(axis=1) + 1e-10)
    return f0, peak, energy


def _stats(x: NDArray[Any], count: int, small: float | None = None) -> list[float]:
    """mean |x|, std (and the share of |x| below `small`) of `x`, zeros when there is too little."""
    if x.size <= 2:
        return [0.0] * count
    out = [float(np.mean(np.abs(x))), float(np.std(x))]
    if small is not None:
        out.append(float(np.mean(np.abs(x) < small)))
    return out


def prosody(audio: NDArray[Any]) -> NDArray[Any]:
    f0, strength, energy = pitch(audio)
    loud = energy > np.percentile(energy, 30)
    if not loud.any():  # constant level (silence)
        loud = np.ones_like(loud)
    voiced = (strength > 0.5) & loud
    out = [float(voiced.mean())]
    out += [
        float(np.mean(strength[loud])),
        float(np.std(strength[loud])),
        float(np.percentile(strength[loud], 90)),
    ]
    log_f0 = np.log(f0)
    pairs = voiced[1:] & voiced[:-1]
    triples = voiced[2:] & voiced[1:-1] & voiced[:-2]
    step = np.diff(log_f0)[pairs]
    curve = np.diff(log_f0, 2)[triples]
    values = log_f0[voiced]
    if values.size > 2:
        out += [float(np.std(values)), float(np.percentile(values, 90) - np.percentile(values, 10))]
    else:
        out += [0.0, 0.0]
    out += _stats(step[np.abs(step) < 0.2], 3, 0.002)  # octave errors left out
    out += _stats(curve[np.abs(curve) < 0.2], 3, 0.002)
    out += _stats(np.diff(energy)[pairs], 2)
    out += _stats(np.diff(energy, 2)[triples], 2)
    out.append(float((np.abs(step) > 0.2).mean()) if step.size else 0.0)
    return np.array(out, dtype=np.float32)


_MOD_EDGES = (0.5, 2, 4, 8, 16, 32, 50)


def modulation(mel: NDArray[Any]) -> NDArray[Any]:
    """Log power of 8 band-energy trajectories in 6 modulation bands, relative per band."""
    bands = mel.reshape(mel.shape[0], 8, _MELS // 8).mean(axis=2)
    bands = bands - bands.mean(axis=0)
    spectrum = np.abs(np.fft.rfft(bands * np.hanning(bands.shape[0])[:, None], n=512, axis=0)) ** 2
    freqs = np.fft.rfftfreq(512, _HOP / SAMPLE_RATE)
    power = np.stack(
        [spectrum[(freqs >= lo) & (freqs < hi)].sum(axis=0) for lo, hi in itertools.pairwise(_MOD_EDGES)]
    )
    power = np.log(power + 1e-6)
    relative: NDArray[Any] = (power - power.mean(axis=0, keepdims=True)).reshape(-1)
    return relative


def linear_spectrum(audio: NDArray[Any]) -> NDArray[Any]:
    """Flatness, flux and harmonic contrast statistics and 20 LFCCs (62-4000 Hz, louder frames)."""
    frames = _frames(np.asarray(audio, dtype=np.float64), _FRAME, _HOP) * np.hanning(_FRAME)
    spectrum = (np.abs(np.fft.rfft(frames, n=_NFFT)) ** 2)[:, 2:129]
    energy = np.log(spectrum.sum(axis=1) + 1e-10)
    louder = energy > np.percentile(energy, 40)
    power = (spectrum[louder] if louder.sum() >= 2 else spectrum) + 1e-10
    log_power = np.log(power)
    flatness = np.exp(log_power.mean(axis=1)) / power.mean(axis=1)
    shares = power / power.sum(axis=1, keepdims=True)
    flux = np.sqrt((np.diff(np.sqrt(shares), axis=0) ** 2).sum(axis=1))
    if flux.size == 0:
        flux = np.zeros(1)
    contrast = log_power.max(axis=1) - np.median(log_power, axis=1)
    lfcc = np.fft.rfft(log_power - log_power.mean(), axis=1).real[:, 1:21] / log_power.shape[1]
    step = np.diff(lfcc, axis=0) if len(lfcc) > 1 else np.zeros((1, 20))
    summary = [
        flatness.mean(),
        flatness.std(),
        np.log(flatness).mean(),
        np.percentile(flatness, 90),
        flux.mean(),
        flux.std(),
        np.percentile(flux, 90),
        np.median(flux),
        contrast.mean(),
        contrast.std(),
    ]
    vector: NDArray[Any] = np.concatenate([summary, lfcc.std(axis=0), np.abs(step).mean(axis=0)])
    return vector


def _levinson(r: NDArray[Any], order: int) -> NDArray[Any]:
    """Linear-prediction coefficients [N, order+1] (a[:, 0] = 1) of autocorrelations r [N, order+1]."""
    a = np.zeros((r.shape[0], order + 1))
    a[:, 0] = 1.0
    error = r[:, 0].copy()
    for i in range(1, order + 1):
        k = -(a[:, :i] * r[:, i:0:-1]).sum(axis=1) / (error + 1e-12)
        updated = a.copy()
        updated[:, 1:i] = a[:, 1:i] + k[:, None] * a[:, i - 1 : 0 : -1]
        updated[:, i] = k
        a = updated
        error = error * (1 - k**2)
    return a


_LPC_ORDER = 12
_LPC_FRAME = 480


def lpc_residual(audio: NDArray[Any]) -> NDArray[Any]:
    """Kurtosis, crest factor, relative gain and periodicity of the LPC residual of louder frames."""
    frames = _frames(np.asarray(audio, dtype=np.float64), _LPC_FRAME, _HOP)
    energy = np.log((frames**2).mean(axis=1) + 1e-10)
    frames = frames[energy > np.percentile(energy, 50)]
    if len(frames) < 3:
        return np.zeros(8, dtype=np.float32)
    r = np.fft.irfft(np.abs(np.fft.rfft(frames * np.hanning(_LPC_FRAME), n=1024)) ** 2, n=1024)
    r = r[:, : _LPC_ORDER + 1]
    r[:, 0] = r[:, 0] * 1.0001 + 1e-9
    a = _levinson(r, _LPC_ORDER)
    t = np.arange(_LPC_ORDER, _LPC_FRAME)
    residual = sum(a[:, j : j + 1] * frames[:, t - j] for j in range(_LPC_ORDER + 1))
    residual = residual - residual.mean(axis=1, keepdims=True)
    variance = (residual**2).mean(axis=1) + 1e-12
    kurtosis = np.log((residual**4).mean(axis=1) / variance**2)
    crest = np.abs(residual).max(axis=1) / np.sqrt(variance)
    gain = np.log(variance / ((frames**2).mean(axis=1) + 1e-12))
    ac = np.fft.irfft(np.abs(np.fft.rfft(residual * np.hanning(residual.shape[1]), n=1024)) ** 2, n=1024)
    periodicity = (ac[:, _LAG_MIN:_LAG_MAX] / (ac[:, :1] + 1e-12)).max(axis=1)
    return np.array(
        [
            kurtosis.mean(),
            kurtosis.std(),
            crest.mean(),
            crest.std(),
            gain.mean(),
            gain.std(),
            periodicity.mean(),
            periodicity.std(),
        ],
        dtype=np.float32,
    )


def features(audio: NDArray[Any]) -> NDArray[Any]:
    """A fixed-length vector describing one utterance (gain-invariant)."""
    audio = np.asarray(audio, dtype=np.float32)
    mel = log_mel(audio)
    vector = np.concatenate(
        [mel_statistics(mel), prosody(audio), modulation(mel), linear_spectrum(audio), lpc_residual(audio)]
    )
    finite: NDArray[Any] = np.nan_to_num(vector, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)
    return finite


def mel_statistics(mel: NDArray[Any]) -> NDArray[Any]:
    """Statistics of the voiced log-mel frames (gain-invariant)."""
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
