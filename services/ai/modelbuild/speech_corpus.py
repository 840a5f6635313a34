"""Real and synthetic speech for training and evaluating the synthetic-speech detector.

Real speech: Czech voice actors of Debian's fillets-ng-data-cs (with the lines' text), English
recordings of the pocketsphinx sdist's test data, and moonshine_cpp's test clip. Synthetic speech:
the same lines spoken by three TTS engines (espeak-ng, flite, festival), Czech where the engine has
a Czech voice and English otherwise. Every clip is 16 kHz mono float32, cut to at most 4 s.

Held-out real speakers (`is_heldout_real`) never enter training, so that an evaluation also holds
out the speakers of the real side.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from numpy.typing import NDArray
from scipy.signal import resample_poly

from services.ai.modelbuild import sources
from services.ai.modelbuild.voicefeatures import SAMPLE_RATE

REAL = "real"
ENGINES = ("espeak-ng", "flite", "festival")
_MAX_SECONDS = 4.0
_DIALOG = re.compile(
    r'dialogId\("([^"]+)",\s*"([^"]*)",\s*"((?:[^"\\]|\\.)*)"\)\s*dialogStr\("((?:[^"\\]|\\.)*)"\)'
)


@dataclass(frozen=True)
class Clip:
    source: str  # REAL or an engine name
    group: str  # speaker (real) or voice (synthetic)
    language: str
    audio: NDArray[Any]


@dataclass(frozen=True)
class Line:
    key: str
    speaker: str
    english: str
    czech: str
    audio_path: Path


def to_16k(audio: NDArray[Any], rate: int) -> NDArray[Any]:
    """Mono float32 at 16 kHz."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 2:
        audio = audio.mean(axis=1)
    if rate != SAMPLE_RATE:
        g = np.gcd(rate, SAMPLE_RATE)
        audio = resample_poly(audio, SAMPLE_RATE // g, rate // g).astype(np.float32)
    return audio


def read_audio(path: Path) -> NDArray[Any]:
    if path.suffix == ".raw":  # pocketsphinx raw files: 16 kHz s16le
        return np.frombuffer(path.read_bytes(), dtype="<i2").astype(np.float32) / 32768.0
    audio, rate = sf.read(str(path), dtype="float32")
    return to_16k(audio, rate)


def _cut(audio: NDArray[Any]) -> NDArray[Any]:
    return audio[: int(_MAX_SECONDS * SAMPLE_RATE)]


def _stable_fraction(text: str) -> float:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF


def is_heldout_real(group: str) -> bool:
    """About a third of the real speakers, chosen by name, are kept out of training."""
    return group.startswith("en:librivox") or group == "en:beckett" or _stable_fraction(group) < 0.3


def fillets_lines(limit: int) -> list[Line]:
    """Czech dialogue lines that have a recording, sampled evenly over the game's levels."""
    lines: list[Line] = []
    for script in sorted((sources.FILLETS_ROOT / "script").glob("*/dialogs_cs.lua")):
        level = script.parent.name
        text = script.read_text(encoding="utf-8", errors="replace")
        for key, speaker, english, czech in _DIALOG.findall(text):
            audio = sources.FILLETS_ROOT / "sound" / level / "cs" / f"{key}.ogg"
            if audio.exists() and len(czech) > 15:
                lines.append(Line(key, speaker or level, english, czech, audio))
    lines.sort(key=lambda line: _stable_fraction(line.key))
    return lines[:limit]


def english_real(cache: Path) -> list[tuple[str, Path]]:
    """(speaker, path) of the English recordings in the pocketsphinx sdist and moonshine_cpp."""
    data = sources.pocketsphinx_test_data(cache)
    found = [(f"en:cards{p.stem}", p) for p in sorted((data / "cards").glob("*.wav"))]
    found += [
        (f"en:{p.stem}", p) for p in (data / "goforward.raw", data / "numbers.raw", data / "something.raw")
    ]
    found += [(f"en:forever{p.stem}", p) for p in sorted((data / "forever").glob("*.wav"))]
    found += [(f"en:librivox{p.stem[-4:]}", p) for p in sorted((data / "librivox").glob("*.wav"))]
    found.append(("en:beckett", sources.package_dir("moonshine_cpp") / "test-data" / "beckett.wav"))
    return found


def real_clips(lines: list[Line], cache: Path) -> list[Clip]:
    clips = [Clip(REAL, f"cs:{line.speaker}", "cs", _cut(read_audio(line.audio_path))) for line in lines]
    for speaker, path in english_real(cache):
        audio = read_audio(path)
        step = int(_MAX_SECONDS * SAMPLE_RATE)
        for start in range(0, max(len(audio) - SAMPLE_RATE, 1), step):  # long recordings give several clips
            clips.append(Clip(REAL, speaker, "en", audio[start : start + step]))
    return clips


# --- text-to-speech -------------------------------------------------------------------------------


def _command(engine: str, voice: str, text: str, out: Path) -> list[str]:
    if engine == "espeak-ng":
        return ["espeak-ng", "-v", voice, "-w", str(out), text]
    if engine == "flite":
        return ["flite", "-voice", voice, "-t", text, "-o", str(out)]
    # festival reads the text from a file (see `synthesize`)
    return ["text2wave", "-eval", f"(voice_{voice})", str(out.with_suffix(".txt")), "-o", str(out)]


_VOICES: dict[str, list[tuple[str, str]]] = {
    "espeak-ng": [("cs", "cs"), ("cs+f2", "cs"), ("en-us", "en"), ("en-gb+m3", "en")],
    "flite": [("kal16", "en"), ("slt", "en"), ("rms", "en"), ("awb", "en")],
    "festival": [("czech_ph", "cs"), ("kal_diphone", "en")],
}


def synthesize(engine: str, voice: str, text: str, workdir: Path) -> NDArray[Any]:
    """Speaks `text` with one engine's voice; returns 16 kHz audio."""
    out = workdir / f"{hashlib.sha256(f'{engine}{voice}{text}'.encode()).hexdigest()}.wav"
    # festival reads text from a file, in ISO-8859-2 for its Czech voice
    out.with_suffix(".txt").write_bytes(text.encode("iso-8859-2", errors="ignore"))
    subprocess.run(_command(engine, voice, text, out), check=True, capture_output=True, timeout=60)
    return read_audio(out)


def engine_voices(engine: str) -> list[tuple[str, str]]:
    return _VOICES[engine]


def synthetic_clips(engine: str, lines: list[Line], per_voice: int, offset: int = 0) -> list[Clip]:
    """`per_voice` lines spoken by each voice of `engine` (lines rotate per voice)."""
    jobs: list[tuple[str, str, str]] = []
    for v_index, (voice, lang) in enumerate(engine_voices(engine)):
        for i in range(per_voice):
            line = lines[(offset + v_index * per_voice + i) % len(lines)]
            jobs.append((voice, lang, line.czech if lang == "cs" else line.english))
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(max_workers=2) as pool:
        audios = list(pool.map(lambda job: synthesize(engine, job[0], job[2], Path(tmp)), jobs))
    return [
        Clip(engine, f"{engine}:{voice}", lang, _cut(audio))
        for (voice, lang, _text), audio in zip(jobs, audios, strict=True)
        if audio.size > SAMPLE_RATE // 4
    ]


def augment(clips: list[Clip], seed: int) -> Iterator[Clip]:
    """Random gain and background noise (20-45 dB SNR) on every clip, real and synthetic alike."""
    rng = np.random.default_rng(seed)
    for clip in clips:
        audio = clip.audio * rng.uniform(0.2, 1.0)
        power = float(np.mean(audio**2)) + 1e-10
        snr_db = rng.uniform(20, 45)
        noise = rng.normal(0, np.sqrt(power / 10 ** (snr_db / 10)), audio.shape)
        yield Clip(clip.source, clip.group, clip.language, (audio + noise).astype(np.float32))
