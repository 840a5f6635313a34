"""Real and synthetic speech for training and evaluating the synthetic-speech detector.

Real speech: Czech voice actors of Debian's fillets-ng-data-cs (with the lines' text), English
recordings of the pocketsphinx sdist's test data, moonshine_cpp's test clip, and the volunteer
recordings of letters and syllables in Debian's klettres-data (about 20 languages, one speaker and
one microphone each). Synthetic speech: the game's lines, in the languages the game was translated
to, spoken by four TTS engines (espeak-ng; flite; festival's diphone voices; festival's HTS
statistical-parametric voices, called "hts" here). Every clip is 16 kHz mono float32, cut to at
most 4 s. `opus_copies` adds a copy of every clip after an Opus round trip at a meeting's bitrate.

Reserved real speakers (`is_heldout_real`) never enter the deployed model's training, so that the
tests check it on speakers it never heard.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import numpy as np
import soundfile as sf
from numpy.typing import NDArray
from scipy.signal import resample_poly

from services.ai.modelbuild import sources
from services.ai.modelbuild.voicefeatures import SAMPLE_RATE

REAL = "real"
ENGINES = ("espeak-ng", "flite", "festival", "hts")
KLETTRES_ROOT = Path("/usr/share/klettres")  # Debian klettres-data
TRANSLATIONS = ("de", "fr", "es", "ru")  # the game's translations that synthetic voices read
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
    codec: str = ""  # "" for the clip as recorded or synthesised, "opus<kbit/s>" after a round trip


@dataclass(frozen=True)
class Line:
    key: str
    speaker: str
    english: str
    czech: str
    audio_path: Path
    translations: dict[str, str] = field(default_factory=dict)  # language -> text (game's translations)

    def text(self, language: str) -> str:
        if language == "cs":
            return self.czech
        return self.translations.get(language, self.english)


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
    """Real speakers reserved for the tests: never in the deployed model's training (Beckett, a
    few minor game characters and two klettres languages)."""
    return group in ("en:beckett", "de:klettres", "pt_BR:klettres") or (
        group.startswith("cs:") and _stable_fraction(group) < 0.3
    )


def _translations(level: Path, language: str) -> dict[str, str]:
    path = level / f"dialogs_{language}.lua"
    if not path.exists():
        return {}
    text = path.read_text(encoding="utf-8", errors="replace")
    return {key: value for key, _speaker, _english, value in _DIALOG.findall(text)}


def fillets_lines(limit: int) -> list[Line]:
    """Czech dialogue lines that have a recording, sampled evenly over the game's levels."""
    lines: list[Line] = []
    for script in sorted((sources.FILLETS_ROOT / "script").glob("*/dialogs_cs.lua")):
        level = script.parent.name
        text = script.read_text(encoding="utf-8", errors="replace")
        translated = {lang: _translations(script.parent, lang) for lang in TRANSLATIONS}
        for key, speaker, english, czech in _DIALOG.findall(text):
            audio = sources.FILLETS_ROOT / "sound" / level / "cs" / f"{key}.ogg"
            if audio.exists() and len(czech) > 15:
                texts = {lang: found[key] for lang, found in translated.items() if key in found}
                lines.append(Line(key, speaker or level, english, czech, audio, texts))
    lines.sort(key=lambda line: _stable_fraction(line.key))
    return lines[:limit]


def english_real(cache: Path) -> list[tuple[str, Path]]:
    """(speaker, path) of the English recordings in the pocketsphinx sdist and moonshine_cpp. The
    five LibriVox excerpts are one reader (one chapter at 64 kbit/s MP3); the card-game and the
    "forever" recordings are one speaker each as far as is known, so each is one group."""
    data = sources.pocketsphinx_test_data(cache)
    found = [("en:cards", p) for p in sorted((data / "cards").glob("*.wav"))]
    found += [
        (f"en:{p.stem}", p) for p in (data / "goforward.raw", data / "numbers.raw", data / "something.raw")
    ]
    found += [("en:forever", p) for p in sorted((data / "forever").glob("*.wav"))]
    found += [("en:librivox", p) for p in sorted((data / "librivox").glob("*.wav"))]
    found += [
        ("en:tidigits", data / "tidigits" / "dhd.2934z.raw"),
        ("en:vad-8khz", data / "vad" / "leak-test.wav"),
    ]
    found.append(("en:beckett", sources.package_dir("moonshine_cpp") / "test-data" / "beckett.wav"))
    return found


def klettres_clips(per_language: int) -> list[Clip]:
    """Letters and syllables of each klettres language, a few at a time with short pauses (as when
    someone spells a word), at most `per_language` clips of up to 4 s per language."""
    clips: list[Clip] = []
    pause = np.zeros(int(0.25 * SAMPLE_RATE), dtype=np.float32)
    for folder in sorted(p for p in KLETTRES_ROOT.iterdir() if p.is_dir()):
        files = sorted(folder.glob("*/*.ogg"), key=lambda p: _stable_fraction(str(p.relative_to(folder))))
        pieces: list[NDArray[Any]] = []
        found = 0
        for path in files:
            if found >= per_language:
                break
            audio = read_audio(path)
            if pieces and sum(p.size for p in pieces) + audio.size > _MAX_SECONDS * SAMPLE_RATE:
                clips.append(Clip(REAL, f"{folder.name}:klettres", folder.name, np.concatenate(pieces)))
                found += 1
                pieces = []
            pieces += [_cut(audio), pause]
    return clips


def real_clips(lines: list[Line], cache: Path, klettres_per_language: int = 0) -> list[Clip]:
    clips = [Clip(REAL, f"cs:{line.speaker}", "cs", _cut(read_audio(line.audio_path))) for line in lines]
    for speaker, path in english_real(cache):
        audio = read_audio(path)
        step = int(_MAX_SECONDS * SAMPLE_RATE)
        for start in range(0, max(len(audio) - SAMPLE_RATE, 1), step):  # long recordings give several clips
            clips.append(Clip(REAL, speaker, "en", audio[start : start + step]))
    return clips + klettres_clips(klettres_per_language)


# --- text-to-speech -------------------------------------------------------------------------------


def _command(engine: str, voice: str, text: str, out: Path) -> list[str]:
    if engine == "espeak-ng":
        return ["espeak-ng", "-v", voice, "-w", str(out), text]
    if engine == "flite":
        return ["flite", "-voice", voice, "-t", text, "-o", str(out)]
    # festival (diphone and HTS voices) reads the text from a file (see `synthesize`)
    return ["text2wave", "-eval", f"(voice_{voice})", str(out.with_suffix(".txt")), "-o", str(out)]


# (voice, language of the text it reads); the Catalan HTS voice reads the game's Spanish lines
_VOICES: dict[str, list[tuple[str, str]]] = {
    "espeak-ng": [
        ("cs", "cs"),
        ("cs+f2", "cs"),
        ("en-us", "en"),
        ("en-gb+m3", "en"),
        ("de", "de"),
        ("fr+f3", "fr"),
        ("es", "es"),
        ("ru", "ru"),
    ],
    "flite": [("kal16", "en"), ("slt", "en"), ("rms", "en"), ("awb", "en")],
    "festival": [("czech_ph", "cs"), ("kal_diphone", "en")],
    "hts": [("cmu_us_slt_arctic_hts", "en"), ("upc_ca_ona_hts", "es")],
}


def synthesize(engine: str, voice: str, text: str, workdir: Path) -> NDArray[Any]:
    """Speaks `text` with one engine's voice; returns 16 kHz audio. `workdir` keeps the file, so a
    later call with the same folder reads it instead of synthesising again."""
    out = workdir / f"{hashlib.sha256(f'{engine}{voice}{text}'.encode()).hexdigest()}.wav"
    if out.exists():
        return read_audio(out)
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        partial = Path(tmp) / "speech.wav"
        # festival reads text from a file: ISO-8859-2 for its Czech voice, Latin-1 for the others
        encoding = "iso-8859-2" if voice == "czech_ph" else "latin-1"
        partial.with_suffix(".txt").write_bytes(text.encode(encoding, errors="ignore"))
        subprocess.run(_command(engine, voice, text, partial), check=True, capture_output=True, timeout=60)
        partial.rename(out)
    return read_audio(out)


def engine_voices(engine: str) -> list[tuple[str, str]]:
    return _VOICES[engine]


def synthetic_clips(
    engine: str, lines: list[Line], per_voice: int, offset: int = 0, cache: Path | None = None
) -> list[Clip]:
    """`per_voice` lines spoken by each voice of `engine` (lines rotate per voice); with `cache`,
    the spoken files are kept in `cache/tts` for the next build."""
    jobs: list[tuple[str, str, str]] = []
    for v_index, (voice, lang) in enumerate(engine_voices(engine)):
        for i in range(per_voice):
            line = lines[(offset + v_index * per_voice + i) % len(lines)]
            jobs.append((voice, lang, line.text(lang)))
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(max_workers=2) as pool:
        folder = Path(tmp) if cache is None else cache / "tts"
        folder.mkdir(parents=True, exist_ok=True)
        audios = list(pool.map(lambda job: synthesize(engine, job[0], job[2], folder), jobs))
    return [
        Clip(engine, f"{engine}:{voice}", lang, _cut(audio))
        for (voice, lang, _text), audio in zip(jobs, audios, strict=True)
        if audio.size > SAMPLE_RATE // 4
    ]


def opus_round_trip(audio: NDArray[Any], bitrate: int) -> NDArray[Any]:
    """`audio` (16 kHz) encoded with Opus at `bitrate` (48 kHz, 20 ms frames, as WebRTC sends it)
    and decoded again, as the media service's AI tap hands it on."""
    encoder: Any = av.CodecContext.create("libopus", "w")
    encoder.sample_rate, encoder.layout, encoder.format, encoder.bit_rate = 48000, "mono", "s16", bitrate
    encoder.open()
    decoder: Any = av.CodecContext.create("opus", "r")
    pcm = (np.clip(resample_poly(audio, 3, 1), -1, 1) * 32767).astype(np.int16)
    pcm = np.pad(pcm, (0, -pcm.size % 960))
    decoded: list[NDArray[Any]] = []
    for pts in [*range(0, pcm.size, 960), None]:
        frame = None
        if pts is not None:
            frame = av.AudioFrame.from_ndarray(pcm[None, pts : pts + 960], format="s16", layout="mono")
            frame.sample_rate, frame.pts = 48000, pts
        for packet in encoder.encode(frame):
            decoded += [f.to_ndarray().reshape(-1) for f in decoder.decode(packet)]
    out = np.concatenate(decoded).astype(np.float32) if decoded else np.zeros(0, np.float32)
    resampled: NDArray[Any] = resample_poly(out, 1, 3).astype(np.float32)
    return resampled[: audio.size]


def opus_copies(
    clips: list[Clip], seed: int, bitrates: tuple[int, ...] = (12000, 16000, 24000, 32000)
) -> list[Clip]:
    """Each clip plus a copy after an Opus round trip at a bitrate drawn from `bitrates`."""
    rng = np.random.default_rng(seed)
    rates = [int(rng.choice(bitrates)) for _ in clips]
    copies = [
        Clip(c.source, c.group, c.language, opus_round_trip(c.audio, rate), f"opus{rate // 1000}")
        for c, rate in zip(clips, rates, strict=True)
    ]
    return clips + copies


def vary_length(clips: list[Clip], seed: int, shortest: float = 1.5) -> Iterator[Clip]:
    """Each clip cut to a random length between `shortest` and 4 s at a random offset: a meeting's
    utterances are often short, and a detector that only saw 4 s clips mistakes short real ones."""
    rng = np.random.default_rng(seed)
    for clip in clips:
        size = int(rng.uniform(shortest, _MAX_SECONDS) * SAMPLE_RATE)
        start = int(rng.integers(0, max(clip.audio.size - size, 0) + 1))
        yield Clip(clip.source, clip.group, clip.language, clip.audio[start : start + size], clip.codec)


def augment(clips: list[Clip], seed: int) -> Iterator[Clip]:
    """Random gain and background noise (20-45 dB SNR) on every clip, real and synthetic alike."""
    rng = np.random.default_rng(seed)
    for clip in clips:
        audio = clip.audio * rng.uniform(0.2, 1.0)
        power = float(np.mean(audio**2)) + 1e-10
        snr_db = rng.uniform(20, 45)
        noise = rng.normal(0, np.sqrt(power / 10 ** (snr_db / 10)), audio.shape)
        yield Clip(clip.source, clip.group, clip.language, (audio + noise).astype(np.float32), clip.codec)
