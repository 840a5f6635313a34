"""What ``make models`` needs from the machine, checked before any work starts.

The synthetic-voice detector is trained on real speech from Debian's fillets-ng data and klettres
data and on the game's lines spoken by four text-to-speech engines (espeak-ng, flite, festival's
diphone and HTS voices); without them the build cannot produce a fair detector, so it stops with
one line naming what is missing and how to install it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from . import sources, speech_corpus

_FESTIVAL_VOICES = Path("/usr/share/festival/voices")
_VOICE_PACKAGES = {
    "english/kal_diphone": "festvox-kallpc16k",
    "czech/czech_ph": "festvox-czech-ph",
    "us/cmu_us_slt_arctic_hts": "festvox-us-slt-hts",
    "catalan/upc_ca_ona_hts": "festvox-ca-ona-hts",
}

INSTALL = (
    "make setup (or: apt-get install espeak-ng flite festival festvox-kallpc16k festvox-czech-ph "
    "festvox-us-slt-hts festvox-ca-ona-hts fillets-ng-data fillets-ng-data-cs klettres-data)"
)

_COMMANDS = {
    "espeak-ng": "espeak-ng",
    "flite": "flite",
    "text2wave": "festival",
}


class MissingPrerequisite(RuntimeError):
    pass


def missing() -> list[str]:
    """The Debian packages whose files the model build needs and cannot find."""
    absent = [package for command, package in _COMMANDS.items() if shutil.which(command) is None]
    root = sources.FILLETS_ROOT
    if not any((root / "script").glob("*/dialogs_cs.lua")):
        absent.append("fillets-ng-data")
    if not any((root / "sound").glob("*/cs/*.ogg")):
        absent.append("fillets-ng-data-cs")
    absent += [
        package for voice, package in _VOICE_PACKAGES.items() if not (_FESTIVAL_VOICES / voice).is_dir()
    ]
    if not any(speech_corpus.KLETTRES_ROOT.glob("*/alpha/*.ogg")):
        absent.append("klettres-data")
    return absent


def check() -> None:
    absent = missing()
    if absent:
        raise MissingPrerequisite(
            f"the AI model build needs the Debian packages {', '.join(absent)}: run `{INSTALL}`"
        )
