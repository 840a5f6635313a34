"""Speech for the tests: flite-generated sentences and real recordings shipped in packages."""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import soundfile as sf
from numpy.typing import NDArray

from services.ai.modelbuild import sources
from services.ai.modelbuild.speech_corpus import read_audio

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / "var" / "cache" / "modelbuild"

FLITE_SENTENCES = (
    "the quick brown fox jumps over the lazy dog",
    "please send the quarterly report to the finance team before friday",
    "we will meet again next week to review the project plan",
    "the weather today is sunny with a light breeze from the west",
)


def flite(text: str, voice: str = "kal16") -> NDArray[Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "speech.wav"
        subprocess.run(
            ["flite", "-voice", voice, "-t", text, "-o", str(out)], check=True, capture_output=True
        )
        return read_audio(out)


def real_recordings() -> list[tuple[NDArray[Any], str]]:
    """(audio, transcript) of the pocketsphinx sdist's LibriVox and card-game recordings."""
    data = sources.pocketsphinx_test_data(CACHE)
    found = []
    for folder, listing in (("librivox", "transcription"), ("cards", "cards.transcription")):
        for line in (data / folder / listing).read_text().splitlines():
            match = re.match(r"<s>(.*)</s>\s*\((.+)\)", line.strip())
            if match:
                found.append((read_audio(data / folder / f"{match.group(2)}.wav"), match.group(1).strip()))
    return found


def wav_bytes(audio: NDArray[Any], rate: int = 16000) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "a.wav"
        sf.write(str(path), audio, rate, subtype="PCM_16")
        return path.read_bytes()


def normalize(text: str) -> str:
    text = text.lower().replace("-", " ")
    return " ".join(re.sub(r"[^a-z0-9' ]", " ", text).split())


_DIGITS = {
    "0": "zero",
    "1": "one",
    "2": "two",
    "3": "three",
    "4": "four",
    "5": "five",
    "6": "six",
    "7": "seven",
    "8": "eight",
    "9": "nine",
    "10": "ten",
}


def comparable_words(text: str) -> str:
    """``text`` normalized for word error rates, digits as words ("10" vs "ten")."""
    return " ".join(_DIGITS.get(w, w) for w in normalize(text).split())
