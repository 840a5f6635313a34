"""Real and synthetic speech for training and evaluating the synthetic-speech detector.

Real speech, several languages and recording conditions, all from packages:

* Czech and Dutch voice actors of Debian's fillets-ng-data-cs and fillets-ng-data-nl (game
  dialogue, studio, 22 kHz; the lines' text is in fillets-ng-data);
* single words spoken by a different volunteer for each of about 25 languages in Debian's
  ktuberling-data (home recordings, 44 kHz);
* English recordings of the pocketsphinx sdist's test data (read speech, card games, LibriVox
  audiobook excerpts; 8-16 kHz) and moonshine_cpp's test clip.

Synthetic speech: the same lines spoken by four TTS engine families, each a held-out "engine" of
the evaluation: espeak-ng (formant), flite (diphone and clustergen), festival (diphone) and HTS
(statistical-parametric voices for festival from Debian: US English slt and Catalan ona), in the
line's language where the engine has a voice for it and in English otherwise.

Every clip is 16 kHz mono float32, cut to at most 4 s; `codec_copies` adds an Opus-degraded copy
of each (through PyAV's libopus at a meeting's bitrates), as a meeting would deliver it.

Held-out real speakers (`is_heldout_real`) never enter training, so that an evaluation also holds
out the speakers of the real side; half of them (`is_calibration_real`) set the alert threshold
and the other half measure its false-alert rate.
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
ENGINES = ("espeak-ng", "flite", "festival", "hts")
KTUBERLING_ROOT = Path("/usr/share/ktuberling/sounds")
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
    codec: str = ""  # "" for the original, "opus16" for a copy through Opus at 16 kb/s


@dataclass(frozen=True)
class Line:
    key: str
    speaker: str
    english: str
    czech: str
    audio_path: Path
    language: str = "cs"  # of the recording
    texts: tuple[tuple[str, str], ...] = ()  # (language, text) of the line's translations

    def text(self, language: str) -> str:
        """The line in ``language`` (the game's translation), English when it has none."""
        if language == "cs":
            return self.czech
        return dict(self.texts).get(language) or self.english


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


def is_calibration_real(group: str) -> bool:
    """Of the held-out real speakers, the half that sets the alert threshold (by name)."""
    return _stable_fraction(f"calibration:{group}") < 0.5


_TRANSLATIONS = ("nl", "es")


def _dialogs(level: Path, language: str) -> dict[str, str]:
    script = level / f"dialogs_{language}.lua"
    if not script.exists():
        return {}
    text = script.read_text(encoding="utf-8", errors="replace")
    return {key: line.replace('\\"', '"') for key, _speaker, _english, line in _DIALOG.findall(text)}


def fillets_lines(limit: int, language: str = "cs") -> list[Line]:
    """Dialogue lines recorded in ``language`` (cs or nl), sampled evenly over the game's levels,
    with the line's Czech, Dutch and Spanish text."""
    lines: list[Line] = []
    for script in sorted((sources.FILLETS_ROOT / "script").glob("*/dialogs_cs.lua")):
        level = script.parent.name
        text = script.read_text(encoding="utf-8", errors="replace")
        translations = {lang: _dialogs(script.parent, lang) for lang in _TRANSLATIONS}
        for key, speaker, english, czech in _DIALOG.findall(text):
            audio = sources.FILLETS_ROOT / "sound" / level / language / f"{key}.ogg"
            spoken = czech if language == "cs" else translations.get(language, {}).get(key, "")
            if audio.exists() and len(spoken) > 15:
                texts = tuple((lang, t[key]) for lang, t in translations.items() if t.get(key))
                lines.append(Line(key, speaker or level, english, czech, audio, language, texts))
    lines.sort(key=lambda line: _stable_fraction(line.key))
    return lines[:limit]


def ktuberling_words(per_language: int) -> list[tuple[str, Path]]:
    """(language, path) of single words, one volunteer speaker per language (ktuberling-data)."""
    found: list[tuple[str, Path]] = []
    for folder in sorted(p for p in KTUBERLING_ROOT.glob("*") if p.is_dir()):
        words = sorted(folder.glob("*.ogg"), key=lambda p: _stable_fraction(p.name))
        found += [(folder.name, path) for path in words[:per_language]]
    return found


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


def real_clips(lines: list[Line], cache: Path, words_per_language: int = 0) -> list[Clip]:
    clips = [
        Clip(REAL, f"{line.language}:{line.speaker}", line.language, _cut(read_audio(line.audio_path)))
        for line in lines
    ]
    if words_per_language and KTUBERLING_ROOT.is_dir():
        for language, path in ktuberling_words(words_per_language):
            clips.append(Clip(REAL, f"kt:{language}", language, _cut(read_audio(path))))
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
    # festival (and its HTS voices) reads the text from a file (see `synthesize`)
    return ["text2wave", "-eval", f"(voice_{voice})", str(out.with_suffix(".txt")), "-o", str(out)]


_VOICES: dict[str, list[tuple[str, str]]] = {
    "espeak-ng": [("cs", "cs"), ("cs+f2", "cs"), ("en-us", "en"), ("en-gb+m3", "en"), ("nl", "nl")],
    "flite": [("kal16", "en"), ("slt", "en"), ("rms", "en"), ("awb", "en")],
    "festival": [("czech_ph", "cs"), ("kal_diphone", "en")],
    # Catalan ona reads the lines' Spanish text (the game has no Catalan translation)
    "hts": [("cmu_us_slt_arctic_hts", "en"), ("upc_ca_ona_hts", "es")],
}
# Text encodings of festival's voices (they read their text from a file).
_FESTIVAL_ENCODING = {"cs": "iso-8859-2", "es": "iso-8859-1", "en": "iso-8859-1"}


def synthesize(engine: str, voice: str, text: str, workdir: Path) -> NDArray[Any]:
    """Speaks `text` with one engine's voice; returns 16 kHz audio."""
    out = workdir / f"{hashlib.sha256(f'{engine}{voice}{text}'.encode()).hexdigest()}.wav"
    # festival reads text from a file, in ISO-8859-2 for its Czech voice
    language = next((lang for v, lang in _VOICES.get(engine, []) if v == voice), "en")
    encoding = _FESTIVAL_ENCODING.get(language, "iso-8859-1")
    out.with_suffix(".txt").write_bytes(text.encode(encoding, errors="ignore"))
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
            jobs.append((voice, lang, line.text(lang)))
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(max_workers=2) as pool:
        audios = list(pool.map(lambda job: synthesize(engine, job[0], job[2], Path(tmp)), jobs))
    return [
        Clip(engine, f"{engine}:{voice}", lang, _cut(audio))
        for (voice, lang, _text), audio in zip(jobs, audios, strict=True)
        if audio.size > SAMPLE_RATE // 4
    ]


def opus_roundtrip(audio: NDArray[Any], bitrate: int) -> NDArray[Any]:
    """``audio`` (16 kHz) through an Opus encoder and decoder at ``bitrate``, as WebRTC carries it
    (48 kHz, 20 ms frames), back at 16 kHz."""
    import av  # PyAV's libopus: the codec media decodes meetings with

    pcm = np.clip(resample_poly(audio, 3, 1), -1, 1)
    samples = (pcm * 32767).astype(np.int16)
    encoder: Any = av.CodecContext.create("libopus", "w")
    encoder.sample_rate, encoder.layout, encoder.format, encoder.bit_rate = 48000, "mono", "s16", bitrate
    decoder: Any = av.CodecContext.create("opus", "r")
    decoder.sample_rate, decoder.layout = 48000, "mono"
    out: list[NDArray[Any]] = []

    def decode(packets: list[Any]) -> None:
        for packet in packets:
            for frame in decoder.decode(packet):
                out.append(frame.to_ndarray().reshape(-1).astype(np.float32) / 32768.0)

    for start in range(0, samples.size - 960 + 1, 960):
        frame = av.AudioFrame.from_ndarray(samples[None, start : start + 960], format="s16", layout="mono")
        frame.sample_rate, frame.pts = 48000, start
        decode(encoder.encode(frame))
    decode(encoder.encode(None))
    if not out:
        return audio
    return resample_poly(np.concatenate(out), 1, 3).astype(np.float32)


# Opus bitrates of a meeting's audio: WebRTC's default for speech is about 32 kb/s, down to
# 12-16 kb/s when bandwidth is short.
OPUS_BITRATES = (12000, 16000, 24000, 32000)


def codec_copies(clips: list[Clip], seed: int) -> list[Clip]:
    """An Opus-degraded copy of every clip, each at one of ``OPUS_BITRATES`` (chosen at random)."""
    rng = np.random.default_rng(seed)
    rates = [int(rng.choice(OPUS_BITRATES)) for _ in clips]
    with ThreadPoolExecutor(max_workers=2) as pool:
        audios = list(pool.map(lambda pair: opus_roundtrip(*pair), zip((c.audio for c in clips), rates)))
    return [
        Clip(c.source, c.group, c.language, audio, codec=f"opus{rate // 1000}")
        for c, audio, rate in zip(clips, audios, rates, strict=True)
    ]


def augment(clips: list[Clip], seed: int) -> Iterator[Clip]:
    """Random gain and background noise (20-45 dB SNR) on every clip, real and synthetic alike."""
    rng = np.random.default_rng(seed)
    for clip in clips:
        audio = clip.audio * rng.uniform(0.2, 1.0)
        power = float(np.mean(audio**2)) + 1e-10
        snr_db = rng.uniform(20, 45)
        noise = rng.normal(0, np.sqrt(power / 10 ** (snr_db / 10)), audio.shape)
        yield Clip(clip.source, clip.group, clip.language, (audio + noise).astype(np.float32), clip.codec)
