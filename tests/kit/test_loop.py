"""The heap set-up every server process runs once started (``services/kit/loop.py``): start-up's
objects frozen out of the collector's reach, and young collections far apart (in a child process:
freezing would change this test process's own heap)."""

from __future__ import annotations

import json
import subprocess
import sys

from services.kit.loop import YOUNG_GC_THRESHOLD

_PROBE = """
import gc, json
from services.kit.loop import freeze_startup_heap
before = gc.get_threshold()
freeze_startup_heap()
print(json.dumps({"before": before, "after": gc.get_threshold(), "frozen": gc.get_freeze_count()}))
"""


def test_startup_objects_are_frozen_and_young_collections_spaced() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True, timeout=60
    )
    seen = json.loads(done.stdout)
    assert seen["frozen"] > 1000  # every module and object of start-up
    assert seen["after"] == [YOUNG_GC_THRESHOLD, *seen["before"][1:]]  # the older generations' stay
    assert seen["before"][0] < YOUNG_GC_THRESHOLD
