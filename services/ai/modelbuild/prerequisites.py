"""What ``make models`` needs from the machine, checked before any work starts.

The synthetic-voice detector is trained on real speech from Debian's fillets-ng data and on the
same lines spoken by three text-to-speech engines; without them the build cannot produce a fair
detector, so it stops with one line naming what is missing and how to install it.
"""

from __future__ import annotations

import shutil

from . import sources

INSTALL = (
    "make setup (or: apt-get install espeak-ng flite festival festvox-kallpc16k festvox-czech-ph "
    "fillets-ng-data fillets-ng-data-cs)"
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
    return absent


def check() -> None:
    absent = missing()
    if absent:
        raise MissingPrerequisite(
            f"the AI model build needs the Debian packages {', '.join(absent)}: run `{INSTALL}`"
        )
